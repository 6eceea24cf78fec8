// The command-line tool (issue 8): every command run as a child process, the way a user runs it, against a
// LocalObjectStore directory and SeaweedFS (endpoint and credentials handed over in the standard AWS
// environment): a 2,000-file sync in one commit, progress on a pseudo-terminal, --json, exit codes, errors.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { LocalObjectStore } from "../js/core.ts";
import { main } from "../js/cli/main.ts";
import { BIN, cliHarness, type CliTarget } from "./helpers/cli.ts";
import { uniquePrefix } from "./helpers/servers.ts";
import { removeDir, tempDir } from "./helpers/targets.ts";

const root = tempDir("cli");
afterAll(() => removeDir(root), 120_000);

/** The environment every CLI child gets (no AWS settings of the machine, a private XDG cache home), the targets, and the runners. */
const { baseEnv, targets, cli, ok, json } = cliHarness(root);
const XDG = join(root, "xdg");
type Target = CliTarget;

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The command under a pseudo-terminal: util-linux `script` when present, else python3's pty module. */
function underPty(argv: string[]): string[] {
  if (Bun.which("script") !== null) return ["script", "-qfec", argv.map(shellQuote).join(" "), "/dev/null"];
  return ["python3", "-c", "import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))", ...argv];
}

interface LogEntryJson {
  seq: number;
  epoch: number;
  timeMs: number;
  time: string;
  filesChanged: number;
  bytes: number;
}
interface SyncJson {
  direction: "up" | "down";
  files: number;
  bytes: number;
  deleted: number;
  unchanged: number;
  directories: number;
  symlinks: number;
  committed: boolean;
  seq: number;
  dryRun: boolean;
  plan?: { copies: string[]; deletes: string[] };
}
interface EntryJson {
  name: string;
  path: string;
  type: string;
  size: number;
  mode: number;
  mtimeMs: number;
  target?: string;
}

/** A local tree of `dirs` × `perDir` small files (plus what `extra` adds); returns its total bytes. */
function makeTree(dir: string, dirs: number, perDir: number): number {
  let total = 0;
  for (let d = 0; d < dirs; d++) {
    const sub = join(dir, `d${String(d).padStart(2, "0")}`, d % 2 === 0 ? "even" : "odd");
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < perDir; f++) {
      const body = `file ${d}/${f} `.repeat(1 + ((d * 7 + f) % 40));
      writeFileSync(join(sub, `f${f}.txt`), body);
      total += Buffer.byteLength(body);
    }
  }
  return total;
}

/** Every file under `dir`: relative path → [size, mtime (whole ms)]. */
function localFiles(dir: string): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d)) {
      const abs = join(d, name);
      const st = lstatSync(abs);
      if (st.isDirectory()) walk(abs, `${rel}${name}/`);
      else if (st.isFile()) out.set(`${rel}${name}`, [st.size, Math.trunc(st.mtimeMs)]);
    }
  };
  walk(dir, "");
  return out;
}

// Arguments and help need no store.
describe("cli: usage", () => {
  const t = targets[0] as Target;
  test("--help for the tool and every command; usage errors exit 2", async () => {
    const help = await ok(t, ["--help"]);
    for (const name of ["ls", "cat", "stat", "du", "tree", "put", "get", "sync", "log", "fsck", "gc", "probe"]) {
      expect(help.stdout).toContain(`  ${name} `);
      const page = await ok(t, [name, "--help"]);
      expect(page.stdout).toContain(`Usage: s3-bun-cached-fs [WORKSPACE] ${name}`);
      expect((await ok(t, ["help", name])).stdout).toBe(page.stdout);
    }
    expect(help.stdout).toContain("Exit codes:");
    expect(help.stdout).toContain("AWS_ENDPOINT_URL_S3");
    expect((await ok(t, ["sync", "-h"])).stdout).toContain("--delete");
    expect((await ok(t, ["--version"])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);

    const usage: [string[], RegExp][] = [
      [[], /Usage:/],
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["-w", "./x", "ls", "--bogus"], /ls: Unknown option '--bogus'$/m],
      [["ls", "/"], /ls: no workspace: pass -w/],
      [["-w", "ftp://host/x", "ls"], /unsupported workspace address/],
      [["-w", "./a", "./b", "ls"], /unknown command '\.\/b'|given twice/],
      [["-w", "./x", "sync", "./a", "./b"], /mark the workspace side with a leading ':'/],
      [["-w", "./x", "sync", ":/a", ":/b"], /mark the workspace side/],
      [["-w", "./x", "cat"], /cat: missing argument/],
      [["-w", "./x", "gc", "--grace", "soon"], /--grace wants milliseconds/],
      [["-w", "./x", "--cache-bytes", "lots", "ls"], /--cache-bytes/],
    ];
    for (const [args, message] of usage) {
      const r = await cli(t, args);
      expect(`${args.join(" ")} -> ${r.code}`).toBe(`${args.join(" ")} -> 2`);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
    }
    // One line, and JSON under --json.
    const r = await cli(t, ["-w", "./x", "ls", "--bogus", "--json"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: "EUSAGE", exitCode: 2 } });
  }, 60_000);
});

/** Every entry under `dir` (relative path, kind, size, mtime): what "left as it was" compares. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => {
      const abs = join(e.parentPath, e.name);
      const st = lstatSync(abs);
      return `${abs.slice(dir.length)} ${st.isDirectory() ? "d" : "f"} ${st.isDirectory() ? 0 : st.size} ${st.mtimeMs}`;
    })
    .sort();
}

// Issue 14: reading commands never write outside the CLI's own state directory, an ordinary directory is
// reported as not a store (exit 12), and the messages name what is missing.
describe("cli: local directories and messages", () => {
  const t = targets[0] as Target;
  const READING: string[][] = [["ls", "-R", "/"], ["tree", "/"], ["log"], ["fsck"], ["du", "/"], ["stat", "/"], ["cat", "/a.txt"], ["get", "/a.txt", "-"], ["sync", ":/", "./down"], ["gc", "--dry-run"]];

  test("a reading command on an ordinary directory exits 12 (ENOTSTORE) and leaves it as it was; put makes a store there", async () => {
    const dir = join(root, uniquePrefix("ordinary").replace(/\/$/, ""));
    mkdirSync(join(dir, "docs"), { recursive: true });
    writeFileSync(join(dir, "docs", "notes.txt"), "mine\n");
    const cwd = join(root, uniquePrefix("cwd"));
    mkdirSync(cwd);
    const before = snapshot(dir);
    for (const args of READING) {
      const r = await cli(t, ["-w", dir, ...args], { cwd });
      expect(`${args.join(" ")} -> ${r.code}`).toBe(`${args.join(" ")} -> 12`);
      expect(r.stderr).toBe(`s3-bun-cached-fs: ${args[0]}: ENOTSTORE: not a store (no heads/main.json; put and sync uploads create one), open '${dir}'\n`);
    }
    expect(snapshot(dir)).toEqual(before);
    expect(readdirSync(cwd)).toEqual([]);
    // --json reports the code too; gc (a writer, but not one that creates a store) is refused alike.
    expect(JSON.parse((await cli(t, ["-w", dir, "ls", "--json"])).stderr)).toMatchObject({ error: { code: "ENOTSTORE", exitCode: 12 } });
    const local = join(root, uniquePrefix("put-src").replace(/\/$/, ""));
    writeFileSync(local, "alpha\n");
    await ok(t, ["-w", dir, "put", "-q", local, "/a.txt"]);
    expect((await ok(t, ["-w", dir, "cat", "/a.txt"])).stdout).toBe("alpha\n");
  }, 120_000);

  test("reading commands on a store write nothing in it, nor in the working directory", async () => {
    const dir = t.workspace("readonly-untouched");
    const local = join(root, uniquePrefix("src").replace(/\/$/, ""));
    writeFileSync(local, "alpha\n");
    await ok(t, ["-w", dir, "put", "-q", local, "/a.txt"]);
    // A store copied without the writer's scratch directory stays without it.
    rmSync(join(dir, ".s3fs-tmp"), { recursive: true, force: true });
    const cwd = join(root, uniquePrefix("cwd"));
    mkdirSync(cwd);
    const before = snapshot(dir);
    for (const args of READING.filter((a) => a[0] !== "sync" && a[0] !== "gc")) await ok(t, ["-w", dir, ...args], { cwd });
    expect(snapshot(dir)).toEqual(before);
    expect(readdirSync(cwd)).toEqual([]);
  }, 120_000);

  test("put with one argument names the missing PATH; a failed get names its destination, not a temp file", async () => {
    const dir = t.workspace("messages");
    const local = join(root, uniquePrefix("msg-src").replace(/\/$/, ""));
    writeFileSync(local, "alpha\n");
    const one = await cli(t, ["-w", dir, "put", local]);
    expect(one.code).toBe(2);
    expect(one.stderr).toBe("s3-bun-cached-fs: put: missing argument PATH (see s3-bun-cached-fs put --help)\n");
    const none = await cli(t, ["-w", dir, "get"]);
    expect(none.stderr).toMatch(/^s3-bun-cached-fs: get: missing argument PATH /);
    await ok(t, ["-w", dir, "put", "-q", local, "/a.txt"]);
    const dest = join(root, uniquePrefix("no-such-dir"), "a.txt");
    const failed = await cli(t, ["-w", dir, "get", "/a.txt", dest]);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toBe(`s3-bun-cached-fs: get: ENOENT: no such file or directory, open '${dest}'\n`);
  }, 120_000);
});

// A store that silently ignores If-None-Match/If-Match (as Backblaze B2 and GCS do) cannot be made from the
// command line, so main() runs in-process with one injected.
describe("cli: a store that ignores conditional writes", () => {
  test("probe exits 9; put and gc are refused with ENOTSUP (exit 5); reading commands still work", async () => {
    const dir = join(root, uniquePrefix("noncompliant"));
    const file = join(root, uniquePrefix("noncompliant-file").replace(/\/$/, ""));
    writeFileSync(file, "x");
    const store = new LocalObjectStore(dir).failing();
    store.addFailRule({ action: "ignorePreconditions" });
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr.push(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      const env = { ...baseEnv };
      expect(await main(["-w", dir, "probe", "-q"], { store, env })).toBe(9);
      expect(await main(["-w", dir, "put", "-q", file, "/x"], { store, env })).toBe(5);
      expect(await main(["-w", dir, "gc", "--grace", "0"], { store, env })).toBe(5);
      expect(await main(["-w", dir, "ls", "-R", "/"], { store, env })).toBe(0);
      expect(await main(["-w", dir, "fsck", "-q"], { store, env })).toBe(0);
    } finally {
      process.stderr.write = write;
    }
    expect(stderr.length).toBe(2);
    expect(stderr[0]).toMatch(/^s3-bun-cached-fs: put: ENOTSUP: this object store does not enforce conditional writes .*\n$/);
    expect(stderr[1]).toMatch(/^s3-bun-cached-fs: gc: ENOTSUP: /);
  }, 60_000);
});

for (const t of targets) {
  describe(`cli on ${t.name}`, () => {
    test("put, get and the reading commands: ls, cat, stat, du, tree; the three ways to name a workspace", async () => {
      const ws = t.workspace("read");
      const local = join(root, uniquePrefix("read-local"));
      mkdirSync(local, { recursive: true });
      writeFileSync(join(local, "a.txt"), "alpha\n");
      const big = Buffer.alloc(3 << 20, 7);
      big.write("big file", 0);
      writeFileSync(join(local, "big.bin"), big);
      const old = new Date("2021-06-01T12:00:00.123Z");
      utimesSync(join(local, "a.txt"), old, old);

      // A reading command on a workspace that does not exist yet (a local one must exist).
      if (t.name === "LocalObjectStore") {
        const r = await cli(t, [ws, "ls"]);
        expect(r.code).toBe(3);
        expect(r.stderr).toBe(`s3-bun-cached-fs: ls: ENOENT: no such workspace directory, open '${resolve(ws)}'\n`);
      } else {
        expect((await ok(t, [ws, "ls"])).stdout).toBe("");
        expect((await ok(t, [ws, "log"])).stdout).toBe("no commits yet\n");
      }

      // put: into a directory path (keeps the name), with -p, from stdin; JSON reports the commit.
      const put1 = await ok(t, ["-w", ws, "put", join(local, "a.txt"), ":/docs/"]);
      expect(put1.stdout).toMatch(/a\.txt -> \/docs\/a\.txt \(6 B, seq 1\)/);
      await ok(t, ["put", "-p", join(local, "a.txt"), "/docs/kept.txt"], { env: { S3FS_WORKSPACE: ws } });
      expect(await json<{ path: string; bytes: number; seq: number }>(t, [ws, "put", join(local, "big.bin"), "/docs/sub/big.bin"])).toMatchObject({
        path: "/docs/sub/big.bin",
        bytes: big.length,
      });
      expect((await ok(t, [ws, "put", "-", "/docs/sub/stdin.txt"], { stdin: "from stdin" })).stdout).toContain("stdin -> /docs/sub/stdin.txt (10 B");
      await ok(t, [ws, "put", "-q", join(local, "a.txt"), "/docs/link-target.txt"]);

      // ls
      expect((await ok(t, [ws, "ls"])).stdout).toBe("docs\n");
      expect((await ok(t, [ws, "ls", ":/docs"])).stdout).toBe("a.txt\nkept.txt\nlink-target.txt\nsub\n");
      expect((await ok(t, [ws, "ls", "-R", "/docs/sub"])).stdout).toBe("big.bin\nstdin.txt\n");
      const long = (await ok(t, [ws, "ls", "-l", "/docs"])).stdout.split("\n");
      expect(long[0]).toMatch(/^-rw-r--r-- +6 +\d{4}-\d\d-\d\d \d\d:\d\d +a\.txt$/);
      expect(long[3]).toMatch(/^drwxr-xr-x +- +.* sub$/);
      expect((await ok(t, [ws, "ls", "-lh", "/docs/sub"])).stdout).toMatch(/ 3\.0M .* big\.bin\n/);
      const entries = await json<EntryJson[]>(t, [ws, "ls", "-R", "/"]);
      expect(entries.map((e) => `${e.type} ${e.path}`)).toEqual([
        "directory /docs",
        "file /docs/a.txt",
        "file /docs/kept.txt",
        "file /docs/link-target.txt",
        "directory /docs/sub",
        "file /docs/sub/big.bin",
        "file /docs/sub/stdin.txt",
      ]);
      // -p kept the local mtime (whole milliseconds); plain put took the upload time.
      const kept = entries.find((e) => e.path === "/docs/kept.txt");
      expect(kept?.mtimeMs).toBe(old.getTime());
      expect(Math.abs((entries.find((e) => e.path === "/docs/a.txt")?.mtimeMs ?? 0) - Date.now())).toBeLessThan(120_000);
      expect((await ok(t, [ws, "ls", "/docs/a.txt"])).stdout).toBe("/docs/a.txt\n");

      // cat: several files, raw bytes, in order.
      expect((await ok(t, [ws, "cat", "/docs/a.txt", "docs/sub/stdin.txt"])).stdout).toBe("alpha\nfrom stdin");
      const cat = await ok(t, [ws, "cat", "/docs/sub/big.bin"]);
      expect(cat.bytes.length).toBe(big.length);
      expect(Buffer.from(cat.bytes).equals(big)).toBe(true);

      // stat
      const st = (await ok(t, [ws, "stat", "/docs/kept.txt"])).stdout;
      expect(st).toContain("  File: /docs/kept.txt\n");
      expect(st).toContain("  Type: file\n");
      expect(st).toContain("  Size: 6\n");
      expect(st).toContain("  Mode: 0644 (-rw-r--r--)\n");
      const [sj] = await json<{ path: string; type: string; size: number; mtime: string; mode: number }[]>(t, [ws, "stat", "/docs/kept.txt"]);
      expect(sj).toMatchObject({ path: "/docs/kept.txt", type: "file", size: 6, mode: 0o644, mtime: old.toISOString() });

      // du
      const total = 6 * 3 + big.length + 10;
      expect(await json(t, [ws, "du", "/docs"])).toEqual({ path: "/docs", bytes: total, files: 5, directories: 2, symlinks: 0 });
      expect((await ok(t, [ws, "du", "/"])).stdout).toBe(`${big.length + 10}\t/docs/sub\n${total}\t/docs\n${total}\t/\n`);
      expect((await ok(t, [ws, "du", "-sh", "/docs"])).stdout).toBe("3.1M\t/docs\n");

      // tree
      expect((await ok(t, [ws, "tree", "/docs"])).stdout).toBe(
        ["/docs", "├── a.txt", "├── kept.txt", "├── link-target.txt", "└── sub", "    ├── big.bin", "    └── stdin.txt", "", "1 directory, 5 files", ""].join("\n"),
      );
      expect((await ok(t, [ws, "tree", "-L", "1", "/"])).stdout).toBe("/\n└── docs\n\n1 directory, 0 files\n");
      const tree = await json<{ name: string; children?: { name: string; children?: unknown[] }[] }>(t, [ws, "tree", "/docs"]);
      expect(tree.children?.map((c) => c.name)).toEqual(["a.txt", "kept.txt", "link-target.txt", "sub"]);
      expect(tree.children?.[3]?.children?.length).toBe(2);

      // get: into a directory (keeps the name, gets the remote mtime), to a path, to stdout.
      const out = join(root, uniquePrefix("read-get"));
      mkdirSync(out);
      expect((await ok(t, [ws, "get", "/docs/kept.txt", out])).stdout).toContain(`/docs/kept.txt -> ${join(out, "kept.txt")} (6 B)`);
      expect(readFileSync(join(out, "kept.txt"), "utf8")).toBe("alpha\n");
      expect(Math.trunc(statSync(join(out, "kept.txt")).mtimeMs)).toBe(old.getTime());
      await ok(t, [ws, "get", ":/docs/sub/big.bin", join(out, "copy.bin")]);
      expect(readFileSync(join(out, "copy.bin")).equals(big)).toBe(true);
      expect(readdirSync(out).sort()).toEqual(["copy.bin", "kept.txt"]);
      expect((await ok(t, [ws, "get", "/docs/sub/stdin.txt", "-"])).stdout).toBe("from stdin");

      // Errors: one line on stderr, the code's exit status.
      const errors: [string[], number, string][] = [
        [["ls", "/nope"], 3, "s3-bun-cached-fs: ls: ENOENT: no such file or directory, lstat '/nope'\n"],
        [["cat", "/docs/a.txt", "/nope.txt"], 3, "s3-bun-cached-fs: cat: ENOENT: no such file or directory, stat '/nope.txt'\n"],
        [["cat", "/docs"], 4, "s3-bun-cached-fs: cat: EISDIR: illegal operation on a directory, read '/docs'\n"],
        [["get", "/docs", join(out, "x")], 4, "s3-bun-cached-fs: get: EISDIR: get downloads one file; use sync for a directory, get '/docs'\n"],
        [["put", join(local, "missing.txt"), "/x"], 3, ""],
        [["put", local, "/x"], 4, ""],
        [["sync", ":/docs/a.txt", join(out, "d")], 4, "s3-bun-cached-fs: sync: ENOTDIR: not a directory, sync '/docs/a.txt'\n"],
      ];
      for (const [args, code, stderr] of errors) {
        const r = await cli(t, [ws, ...args]);
        expect(`${args.join(" ")} -> ${r.code}`).toBe(`${args.join(" ")} -> ${code}`);
        expect(r.stdout).toBe("");
        expect(r.stderr.split("\n").length).toBe(2);
        if (stderr !== "") expect(r.stderr).toBe(stderr);
      }
      const je = await cli(t, [ws, "stat", "/nope", "--json"]);
      expect(je.code).toBe(3);
      expect(JSON.parse(je.stderr)).toEqual({ error: { message: "ENOENT: no such file or directory, lstat '/nope'", exitCode: 3, code: "ENOENT", syscall: "lstat", path: "/nope" } });
      expect(existsSync(join(out, "x"))).toBe(false);

      // Local state lives under $XDG_CACHE_HOME/s3-bun-cached-fs/cli/<hash>, or --cache-dir.
      const states = readdirSync(join(XDG, "s3-bun-cached-fs", "cli"));
      expect(states.every((d) => /^[0-9a-f]{16}$/.test(d))).toBe(true);
      const own = join(root, uniquePrefix("own-cache"));
      expect((await ok(t, [ws, "--cache-dir", own, "cat", "/docs/a.txt"])).stdout).toBe("alpha\n");
      expect(existsSync(join(own, "ws", "namespace.sqlite"))).toBe(true);
      expect(readdirSync(own).filter((n) => n.endsWith(".lock"))).toEqual([]);
    }, 120_000);

    test("sync of a 2,000-file tree: one commit, a second sync moves nothing, back down, --delete", async () => {
      const ws = t.workspace("sync");
      const src = join(root, uniquePrefix("sync-src"));
      const bytes = makeTree(src, 40, 50);
      // A large file (chunked) and a symlink ride along.
      writeFileSync(join(src, "large.bin"), Buffer.alloc(2 << 20, 3));
      symlinkSync("d00/even/f0.txt", join(src, "link"));
      await ok(t, [ws, "put", "-q", "-", "/unrelated.txt"], { stdin: "before" });
      const before = await json<LogEntryJson[]>(t, [ws, "log"]);
      expect(before.length).toBe(1);

      const up = await json<SyncJson>(t, [ws, "sync", src, ":/tree"]);
      expect(up).toMatchObject({ direction: "up", files: 2001, bytes: bytes + (2 << 20), deleted: 0, unchanged: 0, directories: 80, symlinks: 1, committed: true, seq: 2 });
      // One commit for the whole tree.
      const after = await json<LogEntryJson[]>(t, [ws, "log", "-n", "5"]);
      expect(after.map((e) => e.seq)).toEqual([2, 1]);
      expect(after[0]?.filesChanged).toBeGreaterThanOrEqual(2002);
      expect(after[0]?.bytes).toBe(bytes + (2 << 20));
      expect(after[1]).toEqual(before[0] as LogEntryJson);
      const logText = (await ok(t, [ws, "log"])).stdout.split("\n");
      expect(logText[0]).toMatch(/^SEQ +TIME +EPOCH +CHANGES +BYTES$/);
      expect(logText[1]).toMatch(/^ +2 +\d{4}-\d\d-\d\d \d\d:\d\d +\d+ +\d+ +\d+(\.\d)? MiB$/);

      // A second sync moves nothing and commits nothing.
      const again = await json<SyncJson>(t, [ws, "sync", src, ":/tree"]);
      expect(again).toMatchObject({ files: 0, bytes: 0, deleted: 0, unchanged: 2002, committed: false, seq: 2 });
      expect((await json<LogEntryJson[]>(t, [ws, "log"])).map((e) => e.seq)).toEqual([2, 1]);
      const listed = await json<EntryJson[]>(t, [ws, "ls", "-R", "/tree"]);
      expect(listed.filter((e) => e.type === "file").length).toBe(2001);
      expect(listed.find((e) => e.path === "/tree/link")?.target).toBe("d00/even/f0.txt");

      // Down into a new directory: same files, sizes and mtimes; then nothing to do.
      const dst = join(root, uniquePrefix("sync-dst"));
      const down = await json<SyncJson>(t, [ws, "sync", ":/tree", dst]);
      expect(down).toMatchObject({ direction: "down", files: 2001, bytes: bytes + (2 << 20), deleted: 0, symlinks: 1 });
      expect(localFiles(dst)).toEqual(localFiles(src));
      expect(readFileSync(join(dst, "d13", "odd", "f7.txt"), "utf8")).toBe(readFileSync(join(src, "d13", "odd", "f7.txt"), "utf8"));
      expect(readlinkSync(join(dst, "link"))).toBe("d00/even/f0.txt");
      expect(await json<SyncJson>(t, [ws, "sync", ":/tree", dst])).toMatchObject({ files: 0, deleted: 0, unchanged: 2002 });

      // Change one file, add one, remove one: only those move; deletion only with --delete.
      writeFileSync(join(src, "d01", "odd", "f3.txt"), "changed!");
      writeFileSync(join(src, "d01", "odd", "new.txt"), "new");
      rmSync(join(src, "d02", "even", "f4.txt"));
      const dry = await json<SyncJson>(t, [ws, "sync", "-n", "--delete", src, ":/tree"]);
      expect(dry).toMatchObject({ dryRun: true, files: 2, deleted: 1, committed: false });
      expect(dry.plan?.copies).toEqual(["d01/odd/f3.txt", "d01/odd/new.txt"]);
      expect(dry.plan?.deletes).toEqual(["d02/even/f4.txt"]);
      expect(await json<SyncJson>(t, [ws, "sync", src, ":/tree"])).toMatchObject({ files: 2, bytes: 11, deleted: 0, committed: true, seq: 3 });
      expect((await ok(t, [ws, "ls", "/tree/d02/even"])).stdout).toContain("f4.txt");
      expect(await json<SyncJson>(t, [ws, "sync", "--delete", src, ":/tree"])).toMatchObject({ files: 0, deleted: 1, committed: true, seq: 4 });
      expect((await ok(t, [ws, "ls", "/tree/d02/even"])).stdout).not.toContain("f4.txt");
      expect((await ok(t, [ws, "cat", "/tree/d01/odd/f3.txt"])).stdout).toBe("changed!");
      expect(await json<SyncJson>(t, [ws, "sync", "--delete", src, ":/tree"])).toMatchObject({ files: 0, deleted: 0, committed: false, seq: 4 });

      // Down again: the change arrives; the local extra stays unless --delete.
      writeFileSync(join(dst, "local-only.txt"), "mine");
      expect(await json<SyncJson>(t, [ws, "sync", ":/tree", dst])).toMatchObject({ files: 2, deleted: 0 });
      expect(readFileSync(join(dst, "d01", "odd", "f3.txt"), "utf8")).toBe("changed!");
      expect(existsSync(join(dst, "local-only.txt"))).toBe(true);
      expect(await json<SyncJson>(t, [ws, "sync", "--delete", ":/tree", dst])).toMatchObject({ files: 0, deleted: 2 });
      expect(existsSync(join(dst, "local-only.txt"))).toBe(false);
      expect(localFiles(dst)).toEqual(localFiles(src));

      // A kind conflict needs --delete (exit 4 and nothing committed without it).
      const conflict = join(root, uniquePrefix("sync-conflict"));
      mkdirSync(conflict);
      writeFileSync(join(conflict, "d00"), "a file where the workspace has a directory");
      const r = await cli(t, [ws, "sync", conflict, ":/tree"]);
      expect(r.code).toBe(4);
      expect(r.stderr).toBe("s3-bun-cached-fs: sync: EEXIST: the workspace has a different kind of entry here; pass --delete to replace it, sync '/tree/d00'\n");
      expect((await json<LogEntryJson[]>(t, [ws, "log", "-n", "1"]))[0]?.seq).toBe(4);
    }, 300_000);

    test("progress: a bar with files, bytes and rate on a terminal; quiet when piped; --json parses", async () => {
      const ws = t.workspace("progress");
      const src = join(root, uniquePrefix("progress-src"));
      makeTree(src, 4, 25);
      for (let i = 0; i < 3; i++) writeFileSync(join(src, `blob${i}.bin`), Buffer.alloc(3 << 20, i));
      const argv = [process.execPath, BIN, ws, "sync", src, ":/p"];
      const tty = Bun.spawn(underPty(argv), { env: { ...baseEnv, ...t.env }, cwd: root, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
      const [screen, code] = await Promise.all([new Response(tty.stdout).text(), tty.exited]);
      expect(code).toBe(0);
      expect(screen).toMatch(/upload \[[#-]+\] +\d+% \| \d+\/103 files \| [\d.]+ (B|KiB|MiB)\/9\.\d MiB \| [\d.]+ (B|KiB|MiB)\/s \| ETA/);
      expect(screen).toContain("| 103/103 files | 9.0 MiB/9.0 MiB |");
      expect(screen).toContain("\r");
      expect(screen).toMatch(/sync .* -> :\/p: 103 uploaded \(9\.0 MiB\), 8 directories created, 0 deleted, 0 unchanged in .*, one commit \(seq 1\)/);

      // The same, piped: no bar, the summary line only.
      writeFileSync(join(src, "blob0.bin"), Buffer.alloc(3 << 20, 9));
      const piped = await ok(t, [ws, "sync", src, ":/p"]);
      expect(piped.stderr).toBe("");
      expect(piped.stdout).toMatch(/^sync .* -> :\/p: 1 uploaded \(3\.0 MiB\), 0 deleted, 102 unchanged in .*, one commit \(seq 2\)\n$/);
      // -q: nothing at all; --json: one JSON document, nothing on stderr.
      writeFileSync(join(src, "blob1.bin"), Buffer.alloc(3 << 20, 9));
      const quiet = await ok(t, [ws, "sync", "-q", src, ":/p"]);
      expect(quiet.stdout + quiet.stderr).toBe("");
      const down = join(root, uniquePrefix("progress-dst"));
      const j = await cli(t, [ws, "sync", ":/p", down, "--json"]);
      expect(j.stderr).toBe("");
      expect(JSON.parse(j.stdout)).toMatchObject({ direction: "down", files: 103 });

      // Downloads (sync and get) draw it too; --no-progress turns it off on a terminal.
      const getTty = Bun.spawn(underPty([process.execPath, BIN, ws, "get", "/p/blob2.bin", join(down, "again.bin")]), {
        env: { ...baseEnv, ...t.env },
        stdin: "pipe",
        stdout: "pipe",
      });
      expect(await new Response(getTty.stdout).text()).toMatch(/get \[#+\] 100% \| 1\/1 files \| 3\.0 MiB\/3\.0 MiB \|/);
      const off = Bun.spawn(underPty([process.execPath, BIN, ws, "sync", "--no-progress", ":/p", join(root, uniquePrefix("progress-off"))]), {
        env: { ...baseEnv, ...t.env },
        stdin: "pipe",
        stdout: "pipe",
      });
      const offScreen = await new Response(off.stdout).text();
      expect(offScreen).not.toContain("[#");
      expect(offScreen).toContain("103 downloaded");
    }, 120_000);

    test("fsck and gc exit codes; probe; a deleted pack is damage (exit 8)", async () => {
      const ws = t.workspace("fsck");
      const local = join(root, uniquePrefix("fsck-local"));
      mkdirSync(local);
      writeFileSync(join(local, "keep.txt"), "keep me");
      writeFileSync(join(local, "doomed.txt"), "first version");
      // Three commits, one pack each; the second pack becomes garbage when the third replaces its file.
      const store = await t.store(ws);
      await ok(t, [ws, "put", "-q", join(local, "keep.txt"), "/keep.txt"]);
      const keepPack = (await store.list("packs/")).objects.map((o) => o.key);
      expect(keepPack.length).toBe(1);
      await ok(t, [ws, "put", "-q", join(local, "doomed.txt"), "/doomed.txt"]);
      await ok(t, [ws, "put", "-q", "-", "/doomed.txt"], { stdin: "second version, longer" });

      const clean = await ok(t, [ws, "fsck"]);
      expect(clean.stdout).toMatch(/^fsck: ok: 2 objects, 2 extents, \d+ B checked at seq 3\n$/);
      expect(await json(t, [ws, "fsck"])).toMatchObject({ ok: true, missing: [], corrupt: [], seq: 3 });

      // probe: both stores enforce conditional writes.
      const probe = await ok(t, [ws, "probe"]);
      expect(probe.stdout).toContain("probe: compliant");
      expect(await json(t, [ws, "probe"])).toMatchObject({ compliant: true, createOnlyEnforced: true, staleReplaceRefused: true, currentReplaceAccepted: true });

      // gc: the first version's pack is garbage; a dry run only reports it.
      const dry = await json<{ deleted: number; deletedKeys: string[]; dryRun: boolean }>(t, [ws, "gc", "--dry-run", "--grace", "0"]);
      expect(dry.dryRun).toBe(true);
      expect(dry.deletedKeys.length).toBe(1);
      expect(dry.deletedKeys[0]).toMatch(/^packs\//);
      expect((await ok(t, [ws, "gc", "--dry-run", "--grace", "0"])).stdout).toContain(`would delete: ${dry.deletedKeys[0]}`);
      const gc = await ok(t, [ws, "gc", "--grace", "0"]);
      expect(gc.stdout).toMatch(/^gc: scanned \d+, reachable \d+, deleted 1 \(\d+ B\), 0 pending/m);
      expect((await ok(t, [ws, "fsck"])).stdout).toContain("fsck: ok");
      // gc is writer-only work, but a long grace keeps everything.
      expect(await json(t, [ws, "gc", "--grace", "1h"])).toMatchObject({ deleted: 0 });

      // Delete the pack holding keep.txt behind the CLI's back: fsck says so, exit 8.
      const lost = keepPack[0] as string;
      if (t.name === "LocalObjectStore") rmSync(join(ws, lost));
      else await store.delete(lost);
      const damaged = await cli(t, [ws, "fsck"]);
      expect(damaged.code).toBe(8);
      expect(damaged.stdout).toContain(`missing: ${lost}\n`);
      expect(damaged.stdout).toMatch(/fsck: DAMAGED: 1 missing, 0 corrupt; 2 objects/);
      const dj = await cli(t, [ws, "fsck", "--json"]);
      expect(dj.code).toBe(8);
      expect(JSON.parse(dj.stdout)).toMatchObject({ ok: false, missing: [lost] });
      // Reading the lost bytes (with a cold cache) is a store error: exit 7.
      const cold = await cli(t, [ws, "--cache-dir", join(root, uniquePrefix("cold")), "cat", "/keep.txt"]);
      expect(cold.code).toBe(7);
      expect(cold.stderr).toMatch(/^s3-bun-cached-fs: cat: ENOENT: .*\n$/);
    }, 120_000);

    if (t.name !== "LocalObjectStore") {
      test("S3 errors: wrong credentials are exit 11 and never print the secret; flags override the environment", async () => {
        const ws = t.workspace("creds");
        await ok(t, [ws, "put", "-q", "-", "/x.txt"], { stdin: "x" });
        const secret = "wrong-secret-NEVER-PRINT-ME";
        const bad = await cli(t, [ws, "ls", "/"], { env: { AWS_SECRET_ACCESS_KEY: secret } });
        expect(bad.code).toBe(11);
        expect(bad.stderr).toMatch(/^s3-bun-cached-fs: ls: ECREDENTIALS: .*refused the credentials: HTTP 403 .*\n$/);
        expect(bad.stderr).not.toContain(secret);
        // --endpoint wins over AWS_ENDPOINT_URL_S3.
        const endpoint = t.env.AWS_ENDPOINT_URL_S3 as string;
        const viaFlag = await cli(t, [ws, "--endpoint", endpoint, "cat", "/x.txt"], { env: { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9" } });
        expect(viaFlag.stdout).toBe("x");
        const wrong = await cli(t, [ws, "cat", "/x.txt"], { env: { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9" } });
        expect(wrong.code).toBe(7);
      }, 120_000);
    }
  });
}

// Issue 7, part 5: bad input. Traversal, NUL, empty and over-long names and paths, non-string and
// undefined arguments, lone surrogates, writes on a readonly mount, rm -r /, a directory renamed into its
// own subtree, mkdir over a file, reading a directory: each gives its code, changes nothing (the whole
// listing with contents, and the seq, are compared before and after), and never takes the process down.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl, type CachedFs } from "../js/core.ts";
import { fastTempDir, figure, killAllChildren, parseLine, recordError, snapshotTree, spawnFixture, treeLines, checkSecretsAfterAll } from "./helpers/reliability.ts";
import { removeDir } from "./helpers/targets.ts";

checkSecretsAfterAll();
const root = fastTempDir("input");
const bucketDir = join(root, "bucket");
const cacheRoot = join(root, "cache");
let manager: S3CachedFsManagerImpl;
let w: CachedFs;
let r: CachedFs;
const tally = { cases: 0 };

beforeAll(async () => {
  manager = new S3CachedFsManagerImpl({ cacheRoot });
  const store = new LocalObjectStore(bucketDir);
  w = await manager.mount({ name: "w", mode: "readwrite", cacheBytes: 16 << 20, store });
  await w.mkdir("/dir/sub", { recursive: true });
  await w.writeFile("/dir/sub/file.txt", "deep");
  await w.writeFile("/file.txt", "top");
  await w.mkdir("/empty");
  await w.symlink("/dir", "/link");
  r = await manager.mount({ name: "r", mode: "readonly", cacheBytes: 16 << 20, store });
});
afterAll(async () => {
  await manager.close();
  await killAllChildren();
  removeDir(root);
  figure("input.cases", tally);
});

const codeOf = async (f: () => unknown): Promise<string> => {
  try {
    await f();
  } catch (e) {
    recordError(e, "input");
    if (!(e instanceof Error)) return `not an Error: ${String(e)}`;
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== "string") return `no code: ${e.message}`;
    return code;
  }
  return "resolved";
};

/** Runs each case; the code must match and the tree (with contents) and seq must not change. */
async function expectRefused(fs: CachedFs, cases: [string, () => unknown][], want: string | ((label: string) => string)) {
  for (const [label, call] of cases) {
    tally.cases++;
    const before = treeLines(await snapshotTree(fs));
    const seq = fs.seq;
    const code = await codeOf(call);
    const expected = typeof want === "string" ? want : want(label);
    expect(`${label} -> ${code}`).toBe(`${label} -> ${expected}`);
    expect(fs.seq).toBe(seq);
    expect(treeLines(await snapshotTree(fs))).toEqual(before);
  }
  // And the mount still works.
  expect(await fs.readText("/file.txt")).toBe("top");
}

const any = (v: unknown) => v as string;

describe("bad input: each gives its code, changes nothing, never crashes", () => {
  test("traversal: `..` cannot climb out of the virtual root; user paths never become object keys", async () => {
    const passwd = readFileSync("/etc/passwd");
    const passwdMtime = statSync("/etc/passwd").mtimeMs;
    const around = readdirSync(dirname(bucketDir)).sort();
    await expectRefused(w, [
      ["readFile ../../etc/passwd", () => w.readFile("../../etc/passwd")],
      ["readFile /../../../../etc/hostname", () => w.readFile("/../../../../etc/hostname")],
      ["stat ../../../../../etc/shadow", () => w.stat("../../../../../etc/shadow")],
      ["readdir /../../etc", () => w.readdir("/../../etc")],
    ], "ENOENT");
    expect(w.realpathSync("../../..")).toBe("/");
    expect(w.readdirSync("../..").sort()).toEqual(w.readdirSync("/").sort());
    // A write through `..` lands inside the workspace.
    await w.writeFile("../../etc/passwd", "virtual", { recursive: true });
    expect(await w.readText("/etc/passwd")).toBe("virtual");
    await w.symlink("../../../../../etc/passwd", "/escape");
    expect(await w.readText("/escape")).toBe("virtual");
    await w.symlink("/etc/shadow", "/abs");
    expect(await codeOf(() => w.readFile("/abs"))).toBe("ENOENT");
    await w.writeFile("/dir/../../../../outside.txt", "o");
    expect(await w.readText("/outside.txt")).toBe("o");
    const mat = await w.materialize("/escape");
    expect(relative(cacheRoot, mat.path).startsWith("..")).toBe(false);
    expect(readFileSync(mat.path, "utf8")).toBe("virtual");
    mat.release();
    // The real files are untouched, nothing appeared next to the bucket, and every object key is one
    // the engine made (user paths never reach the store).
    expect(readFileSync("/etc/passwd").equals(passwd)).toBe(true);
    expect(statSync("/etc/passwd").mtimeMs).toBe(passwdMtime);
    expect(readdirSync(dirname(bucketDir)).sort()).toEqual(around);
    const keys = (await new LocalObjectStore(bucketDir).list("")).objects.map((o) => o.key);
    for (const k of keys) expect(k).toMatch(/^(heads\/main\.json|wal\/[0-9a-f-]+\.rec|packs\/[0-9a-f-]+\.pack|chunks\/[0-9a-f]{64}|snapshots\/[0-9a-f-]+\.snap)$/);
    await w.rm("/etc", { recursive: true });
    await w.rm("/escape");
    await w.rm("/abs");
    await w.rm("/outside.txt");
  });

  test("NUL bytes: EINVAL", async () => {
    await expectRefused(w, [
      ["writeFile", () => w.writeFile("/a\0b", "x")],
      ["writeFile in a dir name", () => w.writeFile("/dir\0/x", "x", { recursive: true })],
      ["appendFile", () => w.appendFile("/file.txt\0", "x")],
      ["mkdir", () => w.mkdir("/x\0")],
      ["mkdir -p", () => w.mkdir("/x/\0/y", { recursive: true })],
      ["rename source", () => w.rename("/file.txt\0", "/y")],
      ["rename destination", () => w.rename("/file.txt", "/y\0")],
      ["copy destination", () => w.copy("/file.txt", "/\0")],
      ["symlink target", () => w.symlink("t\0", "/l")],
      ["symlink path", () => w.symlink("t", "/l\0")],
      ["rm -rf", () => w.rm("/\0", { recursive: true, force: true })],
      ["rmdir", () => w.rmdir("/empty\0")],
      ["stat", () => w.stat("/\0")],
      ["readdir", () => w.readdir("/dir\0")],
      ["readFile", () => w.readFile("/file.txt\0")],
      ["transaction writeFile", () => w.transaction((tx) => tx.writeFile("/t\0", "x"))],
    ], "EINVAL");
    expect(w.existsSync("/file.txt\0")).toBe(false);
  });

  test("empty paths: ENOENT", async () => {
    await expectRefused(w, [
      ["writeFile", () => w.writeFile("", "x")],
      ["appendFile", () => w.appendFile("", "x")],
      ["mkdir", () => w.mkdir("")],
      ["rm", () => w.rm("")],
      ["rmdir", () => w.rmdir("")],
      ["rename from", () => w.rename("", "/x")],
      ["rename to", () => w.rename("/file.txt", "")],
      ["copy to", () => w.copy("/file.txt", "")],
      ["symlink path", () => w.symlink("/file.txt", "")],
      ["stat", () => w.stat("")],
      ["readdir", () => w.readdir("")],
      ["readFile", () => w.readFile("")],
    ], "ENOENT");
    expect(await codeOf(() => w.symlink("", "/l"))).toBe("EINVAL");
  });

  test("over-long names (256 bytes) and paths (> 4096 bytes): ENAMETOOLONG; 255 and 4096 are fine", async () => {
    const long = "n".repeat(256);
    const longUtf8 = "é".repeat(128);
    const longPath = `/${"p/".repeat(2048)}x`;
    expect(Buffer.byteLength(longUtf8)).toBe(256);
    expect(Buffer.byteLength(longPath)).toBeGreaterThan(4096);
    await expectRefused(w, [
      ["writeFile 256-byte name", () => w.writeFile(`/${long}`, "x")],
      ["writeFile 256-byte UTF-8 name", () => w.writeFile(`/${longUtf8}`, "x")],
      ["mkdir 256-byte name", () => w.mkdir(`/dir/${long}`)],
      ["mkdir -p with a 256-byte component", () => w.mkdir(`/q/${long}/r`, { recursive: true })],
      ["rename to a 256-byte name", () => w.rename("/file.txt", `/${long}`)],
      ["copy to a 256-byte name", () => w.copy("/file.txt", `/${long}`)],
      ["symlink at a 256-byte name", () => w.symlink("/file.txt", `/${long}`)],
      ["stat a 256-byte name", () => w.stat(`/${long}`)],
      ["writeFile a 4099-byte path", () => w.writeFile(longPath, "x", { recursive: true })],
      ["stat a 4099-byte path", () => w.stat(longPath)],
      ["readdir a 4099-byte path", () => w.readdir(longPath)],
    ], "ENAMETOOLONG");
    await w.writeFile(`/${"n".repeat(255)}`, "ok");
    expect(await w.readText(`/${"n".repeat(255)}`)).toBe("ok");
    const path4096 = `/${"q/".repeat(2046)}xyz`;
    expect(Buffer.byteLength(path4096)).toBe(4096);
    expect(await codeOf(() => w.stat(path4096))).toBe("ENOENT");
    await w.rm(`/${"n".repeat(255)}`);
  });

  test("non-string and undefined arguments from JS: ERR_INVALID_ARG_TYPE (a TypeError)", async () => {
    await expectRefused(w, [
      ["readFile(undefined)", () => w.readFile(any(undefined))],
      ["readFile(null)", () => w.readFile(any(null))],
      ["writeFile(42)", () => w.writeFile(any(42), "x")],
      ["writeFile({})", () => w.writeFile(any({}), "x")],
      ["writeFile(Symbol)", () => w.writeFile(any(Symbol("p")), "x")],
      ["writeFile(new String)", () => w.writeFile(any(new String("/s")), "x")],
      ["writeFile(path, undefined)", () => w.writeFile("/x", any(undefined))],
      ["writeFile(path, null)", () => w.writeFile("/x", any(null))],
      ["writeFile(path, 42)", () => w.writeFile("/x", any(42))],
      ["writeFile(path, {})", () => w.writeFile("/x", any({ toString: () => "sneaky" }))],
      ["appendFile(path, [])", () => w.appendFile("/file.txt", any([1, 2]))],
      ["mkdir(null)", () => w.mkdir(any(null))],
      ["rm([])", () => w.rm(any([]))],
      ["rmdir(1n)", () => w.rmdir(any(1n))],
      ["rename(path, undefined)", () => w.rename("/file.txt", any(undefined))],
      ["rename(undefined, path)", () => w.rename(any(undefined), "/x")],
      ["copy({}, path)", () => w.copy(any({}), "/x")],
      ["symlink(undefined, path)", () => w.symlink(any(undefined), "/l")],
      ["stat(true)", () => w.stat(any(true))],
      ["statSync(undefined)", () => w.statSync(any(undefined))],
      ["readdirSync(42)", () => w.readdirSync(any(42))],
      ["existsSync(null)", () => w.existsSync(any(null))],
      ["materialize(undefined)", () => w.materialize(any(undefined))],
      ["openWrite(undefined)", () => w.openWrite(any(undefined))],
      ["stream(undefined)", () => w.stream(any(undefined))],
      ["transaction: tx.writeFile(undefined)", () => w.transaction((tx) => tx.writeFile(any(undefined), "x"))],
    ], "ERR_INVALID_ARG_TYPE");
  });

  // Regression test for bug #5: option values of the wrong type used to reach napi's converter and come
  // back with napi's status as the code ("NumberExpected"); like Node, they must give ERR_INVALID_ARG_TYPE.
  test("regression #5: options of the wrong type: ERR_INVALID_ARG_TYPE, not napi's NumberExpected", async () => {
    await expectRefused(w, [
      ["writeFile mode: 'abc'", () => w.writeFile("/m", "x", { mode: any("abc") as unknown as number })],
      ["chmod('777')", () => w.chmod("/file.txt", any("777") as unknown as number)],
      ["read offset: '3'", () => w.read("/file.txt", { offset: any("3") as unknown as number })],
    ], "ERR_INVALID_ARG_TYPE");
  });

  test("out-of-range numbers: EINVAL", async () => {
    await expectRefused(w, [
      ["read offset -1", () => w.read("/file.txt", { offset: -1 })],
      ["read offset NaN", () => w.read("/file.txt", { offset: Number.NaN })],
      ["read length 1.5", () => w.read("/file.txt", { length: 1.5 })],
      ["utimes NaN", () => w.utimes("/file.txt", Number.NaN, Number.NaN)],
      ["gc graceMs -1", () => w.gc({ graceMs: -1 })],
    ], "EINVAL");
  });

  // Regression test for bug #4: paths with lone surrogates used to be converted to UTF-8 with U+FFFD
  // replacements, so "/s\uD800" and "/s\uDC00" silently named the same file "/s\uFFFD". They must be
  // refused with EINVAL.
  test("regression #4: invalid UTF-16 (lone surrogates) in a path: EINVAL, and no aliasing", async () => {
    await expectRefused(w, [
      ["writeFile /s\\uD800", () => w.writeFile("/s\uD800", "x")],
      ["writeFile /\\uDC00/x", () => w.writeFile("/\uDC00/x", "x", { recursive: true })],
      ["mkdir /\\uDBFFdir", () => w.mkdir("/\uDBFFdir")],
      ["rename to /\\uD83D", () => w.rename("/file.txt", "/\uD83D")],
      ["copy to /c\\uDFFF", () => w.copy("/file.txt", "/c\uDFFF")],
      ["symlink at /l\\uD800", () => w.symlink("/file.txt", "/l\uD800")],
    ], "EINVAL");
    await w.writeFile("/s\uFFFD", "replacement char, written on purpose");
    expect(await codeOf(() => w.readFile("/s\uD800"))).not.toBe("resolved");
    await w.rm("/s\uFFFD");
  });

  test("binary contents (invalid UTF-8 bytes) round-trip exactly", async () => {
    const bytes = new Uint8Array([0xff, 0xfe, 0x80, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x00, 0xf4, 0x90, 0x80, 0x80]);
    await w.writeFile("/bin", bytes);
    expect([...(await w.readFile("/bin"))]).toEqual([...bytes]);
    await w.appendFile("/bin", bytes);
    expect((await w.readFile("/bin")).length).toBe(bytes.length * 2);
    await w.rm("/bin");
  });

  test("writes on a readonly mount: EROFS", async () => {
    await expectRefused(r, [
      ["writeFile", () => r.writeFile("/x", "x")],
      ["writeFile (stream)", () => r.writeFile("/x", new Blob(["x"]).stream())],
      ["appendFile", () => r.appendFile("/file.txt", "x")],
      ["mkdir", () => r.mkdir("/d")],
      ["mkdir -p existing", () => r.mkdir("/dir", { recursive: true })],
      ["rm", () => r.rm("/file.txt")],
      ["rm -rf missing", () => r.rm("/missing", { recursive: true, force: true })],
      ["rmdir", () => r.rmdir("/empty")],
      ["rename", () => r.rename("/file.txt", "/y")],
      ["copy", () => r.copy("/file.txt", "/z")],
      ["symlink", () => r.symlink("/file.txt", "/l")],
      ["chmod", () => r.chmod("/file.txt", 0o600)],
      ["utimes", () => r.utimes("/file.txt", 0, 0)],
      ["transaction", () => r.transaction((tx) => tx.writeFile("/t", "t"))],
      ["openWrite", () => r.openWrite("/o")],
      ["gc", () => r.gc({ graceMs: 0 })],
    ], "EROFS");
  });

  test("rm -r /, rmdir /, renaming a directory into its own subtree, copying it into itself: EINVAL", async () => {
    await expectRefused(w, [
      ["rm -r /", () => w.rm("/", { recursive: true })],
      ["rm -rf /", () => w.rm("/", { recursive: true, force: true })],
      ["rm -r /.", () => w.rm("/.", { recursive: true })],
      ["rm -r /dir/..", () => w.rm("/dir/..", { recursive: true })],
      ["rm -r ../..", () => w.rm("../..", { recursive: true })],
      ["rmdir /", () => w.rmdir("/")],
      ["rename /dir into /dir/sub/inside", () => w.rename("/dir", "/dir/sub/inside")],
      ["rename /dir into /dir/new", () => w.rename("/dir", "/dir/new")],
      ["rename /dir via a symlink into itself", () => w.rename("/dir", "/link/sub/x")],
      ["copy -r /dir into /dir/sub/c", () => w.copy("/dir", "/dir/sub/c", { recursive: true })],
      ["copy -r / into /x", () => w.copy("/", "/x", { recursive: true })],
      ["readlink of a file", () => w.readlink("/file.txt")],
      ["symlink with an empty target", () => w.symlink("", "/l")],
    ], "EINVAL");
    await expectRefused(w, [
      ["rename /", () => w.rename("/", "/x")],
      ["rename onto /", () => w.rename("/file.txt", "/")],
    ], "EBUSY");
  });

  test("mkdir over a file: EEXIST; reading or writing a directory: EISDIR; a file as a directory: ENOTDIR", async () => {
    await expectRefused(w, [
      ["mkdir /file.txt", () => w.mkdir("/file.txt")],
      ["mkdir -p /file.txt", () => w.mkdir("/file.txt", { recursive: true })],
      ["mkdir /dir", () => w.mkdir("/dir")],
      ["mkdir /", () => w.mkdir("/")],
      ["writeFile wx over a file", () => w.writeFile("/file.txt", "x", { flag: "wx" })],
      ["symlink over a file", () => w.symlink("/x", "/file.txt")],
    ], "EEXIST");
    await expectRefused(w, [
      ["readFile /dir", () => w.readFile("/dir")],
      ["readText /dir", () => w.readText("/dir")],
      ["read /dir", () => w.read("/dir", { offset: 0, length: 1 })],
      ["readFile /", () => w.readFile("/")],
      ["readFile through a symlink to a dir", () => w.readFile("/link")],
      ["stream /dir", () => w.stream("/dir")],
      ["materialize /dir", () => w.materialize("/dir")],
      ["writeFile /dir", () => w.writeFile("/dir", "x")],
      ["writeFile /", () => w.writeFile("/", "x")],
      ["appendFile /dir", () => w.appendFile("/dir", "x")],
      ["rm /dir without recursive", () => w.rm("/dir")],
      ["copy /dir without recursive", () => w.copy("/dir", "/d2")],
      ["rename a file onto a directory", () => w.rename("/file.txt", "/empty")],
      ["transaction readFile /dir", () => w.transaction((tx) => tx.readFile("/dir"))],
    ], "EISDIR");
    await expectRefused(w, [
      ["readdir a file", () => w.readdir("/file.txt")],
      ["writeFile under a file", () => w.writeFile("/file.txt/x", "x")],
      ["mkdir -p under a file", () => w.mkdir("/file.txt/a/b", { recursive: true })],
      ["rmdir a file", () => w.rmdir("/file.txt")],
      ["rename a directory onto a file", () => w.rename("/empty", "/file.txt")],
      ["stat under a file", () => w.stat("/file.txt/x")],
    ], "ENOTDIR");
    await expectRefused(w, [
      ["rmdir a non-empty directory", () => w.rmdir("/dir")],
      ["rename a directory onto a non-empty one", () => w.rename("/empty", "/dir")],
    ], "ENOTEMPTY");
  });

  test("a bad call inside a transaction fails alone; the rest commits once", async () => {
    const seq = w.seq;
    await w.transaction(async (tx) => {
      await tx.writeFile("/tx-ok", "1");
      expect(await codeOf(() => tx.writeFile("/tx\0bad", "x"))).toBe("EINVAL");
      expect(await codeOf(() => tx.mkdir("/file.txt"))).toBe("EEXIST");
      expect(await codeOf(() => tx.rename("/dir", "/dir/sub/in"))).toBe("EINVAL");
      expect(await codeOf(() => tx.writeFile(any(undefined), "x"))).toBe("ERR_INVALID_ARG_TYPE");
      await tx.writeFile("/tx-ok2", "2");
    });
    expect(w.seq).toBe(seq + 1);
    expect(await w.readText("/tx-ok")).toBe("1");
    expect(await w.readText("/tx-ok2")).toBe("2");
    await w.rm("/tx-ok");
    await w.rm("/tx-ok2");
  });

  test("errors are Node-shaped: Error instances with code, syscall, path and a message naming them", async () => {
    const e = (await w.stat("/nope/x").catch((x: unknown) => x)) as NodeJS.ErrnoException;
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe("ENOENT");
    expect(e.syscall).toBe("stat");
    expect(e.path).toBe("/nope/x");
    expect(e.message).toBe("ENOENT: no such file or directory, stat '/nope/x'");
    const nul = (await w.writeFile("/a\0b", "x").catch((x: unknown) => x)) as NodeJS.ErrnoException;
    expect(nul.message.includes("\0")).toBe(false);
  });
});

// Regression test for bug #6: a legal path (4095 bytes, 2047 components) used to make mkdir -p and copy -r
// take minutes, holding the writer lock (every component resolved from the root, the path cloned at each
// step: cubic in the depth). Run in a child so the test stays bounded; 15 s is generous.
test("regression #6: the deepest legal path (2047 components): every operation within a bounded time", async () => {
  const dir = join(root, "deep");
  const child = spawnFixture("deep-paths.ts", { dir, depth: 2047 });
  const limitMs = 15_000;
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  await child.exited;
  clearTimeout(timer);
  const steps = child.lines.filter((l) => l.startsWith("step")).map((l) => parseLine<{ name: string; ms: number; code?: string }>(l).data);
  figure("input.deepPaths", steps);
  const finished = child.lines.some((l) => l.startsWith("done"));
  expect(`${finished ? "finished" : `killed after ${limitMs} ms`}; steps: ${steps.map((s) => `${s.name} ${s.ms} ms${s.code !== undefined ? ` ${s.code}` : ""}`).join(", ")}`).toStartWith("finished");
  for (const s of steps) expect(s.code).toBeUndefined();
}, 30_000);

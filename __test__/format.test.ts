// Issue 13: stored formats. WAL records and snapshots are written in the compact format (binary,
// zstd-compressed, in columns for snapshots; version 3 adds each chunk block's hash to its extent); buckets
// written by earlier releases keep working: as JSON (version 1), and compact without block hashes (version 2).
// __test__/fixtures/format-v<N>/ are such buckets, made by scripts/make-format-fixture.ts with those releases,
// with the tree each held at every seq. Unknown versions give a clear ECORRUPT naming the version.
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl, type CachedFs, type MountOptions } from "../js/core.ts";
import { manifestTree } from "./fixtures/format-tree.ts";
import { FIXTURES, fastTempDir } from "./helpers/reliability.ts";
import { codeOf, removeDir } from "./helpers/targets.ts";

const root = fastTempDir("format");
afterAll(() => removeDir(root));
/** The current version of WAL records and snapshots, as the byte after the magic and the tag. */
const CURRENT = 3;

let n = 0;
const managers: S3CachedFsManagerImpl[] = [];
afterAll(() => Promise.all(managers.map((m) => m.close())));

/** A copy of a fixture bucket, so that no test changes the committed one. */
function copyFixture(fixture: string): string {
  const dir = join(root, `bucket-${++n}`);
  cpSync(join(fixture, "bucket"), dir, { recursive: true });
  return dir;
}

function mount(bucket: string, options: Partial<MountOptions> = {}): Promise<CachedFs> {
  const m = new S3CachedFsManagerImpl({ cacheRoot: join(root, `cache-${++n}`) });
  managers.push(m);
  return m.mount({ name: "f", mode: "readonly", cacheBytes: 64 << 20, store: new LocalObjectStore(bucket), ...options } as MountOptions);
}

/** The format version of a stored record or snapshot: 1 for JSON, else the compact envelope's. */
function versionOf(file: string): number {
  const bytes = readFileSync(file);
  if (bytes.subarray(0, 7).toString("latin1") === '{"v":1,') return 1;
  return bytes.subarray(0, 4).toString("latin1") === "S3FS" ? bytes[5]! : -1;
}
const objects = (bucket: string, dir: string) => readdirSync(join(bucket, dir)).map((f) => join(bucket, dir, f));

describe.each([
  [1, "JSON"],
  [2, "compact, chunks without block hashes"],
])("a bucket written in format %d (%s)", (version) => {
  const fixture = join(FIXTURES, `format-v${version}`);
  const manifest = JSON.parse(readFileSync(join(fixture, "manifest.json"), "utf8")) as { seqs: Record<string, Record<string, string>> };
  const seqs = Object.keys(manifest.seqs).map(Number).sort((a, b) => a - b);
  const lastSeq = seqs[seqs.length - 1]!;
  const copyBucket = () => copyFixture(fixture);

  test("the fixture is what it says: records and snapshots of that version only", () => {
    const bucket = join(fixture, "bucket");
    const stored = [...objects(bucket, "wal"), ...objects(bucket, "snapshots")];
    expect(stored.length).toBeGreaterThan(10);
    for (const f of stored) expect(versionOf(f)).toBe(version);
  });

  test("mounts and reads at the head and at every seq (a 1 MiB chunk among them)", async () => {
    const bucket = copyBucket();
    const head = await mount(bucket);
    expect(head.seq).toBe(lastSeq);
    expect(await manifestTree(head)).toEqual(manifest.seqs[String(lastSeq)]!);
    for (const seq of seqs) {
      const at = await mount(bucket, { at: seq });
      expect(await manifestTree(at)).toEqual(manifest.seqs[String(seq)]!);
    }
    const before = await mount(bucket, { at: "before-tail" });
    expect((await head.checkpoints()).map((c) => c.name)).toEqual(["before-tail"]);
    expect(await manifestTree(before)).toEqual(manifest.seqs[String(before.seq)]!);
  });

  test(`a new writer continues it in format ${CURRENT}; old and new commits read, diff and collect together`, async () => {
    const bucket = copyBucket();
    const before = new Set([...objects(bucket, "wal"), ...objects(bucket, "snapshots")]);
    const w = await mount(bucket, { mode: "readwrite", snapshotEvery: 3 });
    for (let i = 0; i < 6; i++) await w.writeFile(`/new/f${i}.txt`, `new ${i}\n`, { recursive: true });
    // A new chunk (with block hashes) beside the old one (without), read back cold below.
    const big = Buffer.alloc((2 << 20) + 333, 0);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 9)) & 0xff;
    await w.writeFile("/new/f6.txt", big);
    await w.rm("/src/moved.ts");
    // The same bytes written again (into a new pack) are no change.
    await w.writeFile("/src/lib/m0.ts", await w.readFile("/src/lib/m0.ts"));
    const expected = await manifestTree(w);
    const newSeq = w.seq;

    const fresh = [...objects(bucket, "wal"), ...objects(bucket, "snapshots")].filter((f) => !before.has(f));
    expect(fresh.filter((f) => f.endsWith(".rec")).length).toBe(9);
    expect(fresh.filter((f) => f.endsWith(".snap")).length).toBeGreaterThan(0);
    for (const f of fresh) expect(versionOf(f)).toBe(CURRENT);

    const cold = await mount(bucket);
    expect(await manifestTree(cold)).toEqual(expected);
    for (const seq of [seqs[3]!, lastSeq]) expect(await manifestTree(await mount(bucket, { at: seq }))).toEqual(manifest.seqs[String(seq)]!);
    const changes = await cold.diff(lastSeq, newSeq);
    expect(changes.map((c) => `${c.change} ${c.path}`).sort()).toEqual([
      "added /new",
      ...Array.from({ length: 7 }, (_, i) => `added /new/f${i}.txt`),
      "deleted /src/moved.ts",
    ].sort());

    await w.restore(lastSeq, { paths: ["/src/moved.ts"] });
    const gc = await w.gc();
    expect(gc.deleted).toBeGreaterThanOrEqual(0);
    const report = await w.fsck();
    expect(report.ok).toBe(true);
    expect(await manifestTree(await mount(bucket, { at: "before-tail" }))).toEqual(manifest.seqs[String((await w.checkpoints())[0]!.seq)]!);
    const reader = await mount(bucket);
    expect((await reader.readFile("/src/moved.ts")).toString()).toBe("export const v2 = 2;\n// appended\n");
    expect(Buffer.from(await reader.readFile("/new/f6.txt")).equals(big)).toBe(true);
  });
});

describe("unknown format versions", () => {
  const copyBucket = () => copyFixture(join(FIXTURES, "format-v1"));
  test("a snapshot of a newer release is refused by name, and nothing is misread", async () => {
    const bucket = copyBucket();
    const w = await mount(bucket, { mode: "readwrite", snapshotEvery: 1 });
    await w.writeFile("/x", "x");
    const at = w.seq;
    await managers.at(-1)!.close();
    const snap = objects(bucket, "snapshots").filter((f) => f.endsWith(".snap")).sort().at(-1)!;
    const bytes = readFileSync(snap);
    expect(bytes.subarray(0, 6)).toEqual(Buffer.from([0x53, 0x33, 0x46, 0x53, 2, CURRENT]));
    bytes[5] = 9; // the format version, after the magic and the tag
    writeFileSync(snap, bytes);
    // A time-travel mount starts from the newest snapshot at or before its seq.
    const err = await mount(bucket, { at }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe("ECORRUPT");
    expect(err?.message).toContain("snapshot format version 9 is not one this release reads");
    expect(err?.message).toContain("upgrade");
  });

  test("a damaged compact record is ECORRUPT, not a crash", async () => {
    const bucket = copyBucket();
    const w = await mount(bucket, { mode: "readwrite" });
    await w.writeFile("/y", "y");
    await managers.at(-1)!.close();
    const rec = objects(bucket, "wal").filter((f) => f.endsWith(".rec")).sort().at(-1)!;
    const bytes = readFileSync(rec);
    writeFileSync(rec, bytes.subarray(0, bytes.length - 3));
    expect(await codeOf(mount(bucket))).toBe("ECORRUPT");
  });
});

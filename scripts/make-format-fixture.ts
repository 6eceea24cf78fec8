// Writes __test__/fixtures/format-v<N>/: a LocalObjectStore bucket made by the release that wrote WAL records
// and snapshots in format version N, and manifest.json, the tree it holds at each seq. The format test mounts
// each with the current release and checks every seq reads back. Made so far: format 1 (JSON, by the release
// before issue 13) and format 2 (compact, chunks without block hashes, by de324fc).
//
//   bun scripts/make-format-fixture.ts <N>     (run once with that release; the output is committed)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl, type CachedFs } from "../js/core.ts";
import { manifestTree } from "../__test__/fixtures/format-tree.ts";

const version = process.argv[2];
const described: Record<string, string> = {
  "1": "format version 1 (JSON WAL records and snapshots)",
  "2": "format version 2 (compact WAL records and snapshots, chunks without block hashes)",
};
if (!version || !described[version]) throw new Error("usage: bun scripts/make-format-fixture.ts <1|2>");
const out = join(import.meta.dir, "..", "__test__", "fixtures", `format-v${version}`);
rmSync(join(out, "bucket"), { recursive: true, force: true });
const cache = mkdtempSync(join(os.tmpdir(), "fixture-cache-"));
const store = new LocalObjectStore(join(out, "bucket"));
const manager = new S3CachedFsManagerImpl({ cacheRoot: cache });
const fs = await manager.mount({ name: "fixture", mode: "readwrite", store, snapshotEvery: 4, cacheBytes: 64 << 20 });

const big = new Uint8Array((1 << 20) + 4099);
for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 0xff;
const steps: Array<(f: CachedFs) => Promise<unknown>> = [
  (f) => f.mkdir("/src/lib", { recursive: true }),
  (f) => f.transaction(async (tx) => {
    for (let i = 0; i < 40; i++) await tx.writeFile(`/src/lib/m${i}.ts`, `export const v${i} = ${i};\n`);
  }),
  (f) => f.writeFile("/data/big.bin", big, { recursive: true }),
  (f) => f.symlink("/src/lib/m1.ts", "/link-to-m1"),
  (f) => f.rename("/src/lib/m2.ts", "/src/moved.ts"),
  (f) => f.rm("/src/lib/m3.ts"),
  (f) => f.chmod("/src/moved.ts", 0o600),
  (f) => f.appendFile("/src/moved.ts", "// appended\n"),
  (f) => f.checkpoint("before-tail"),
  (f) => f.writeFile("/notes/ünïcode name.txt", "héllo\n", { recursive: true }),
  (f) => f.rm("/data", { recursive: true }),
  (f) => f.writeFile("/empty", ""),
];
const seqs: Record<string, Record<string, string>> = {};
for (const step of steps) {
  await step(fs);
  seqs[String(fs.seq)] = await manifestTree(fs);
}
writeFileSync(join(out, "manifest.json"), `${JSON.stringify({ written: described[version], seqs }, null, 1)}\n`);
await manager.close();
rmSync(join(out, "bucket", ".s3fs-lock"), { force: true });
rmSync(cache, { recursive: true, force: true });

// demo:just-bash — a just-bash shell over a mounted workspace: one realistic script (mkdir -p, heredocs, pipes,
// grep -r, sed -i, find, wc) is one commit, and a reader on its own cache sees it after one refresh.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalObjectStore, S3CachedFsManagerImpl } from "../js/core.ts";
import { createAcceleratedJustBashShell } from "../js/just-bash.ts";
import { check, describeRequests, type DemoOptions } from "./util.ts";

/** An agent's turn: scaffold a project, index its TODOs, fix one, and report. */
const SCRIPT = `set -e
mkdir -p src/lib docs out
cat > src/app.ts <<'EOF'
import { slugify } from "./lib/slug";
// TODO: read the titles from argv
export const slugs = ["Hello World", "S3 as a filesystem"].map(slugify);
EOF
cat > src/lib/slug.ts <<'EOF'
// TODO: handle unicode
export function slugify(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}
EOF
cat > docs/notes.md <<'EOF'
# Notes
TODO: write the README
done: slugify
EOF
grep -rn TODO src docs | sort > out/todo.txt
sed -i 's/TODO: handle unicode/DONE: handle unicode/' src/lib/slug.ts
find src docs -type f | sort > out/files.txt
echo "todo: $(wc -l < out/todo.txt)"
echo "lines of code: $(cat src/app.ts src/lib/slug.ts | wc -l)"
grep -rl DONE src
cat out/files.txt`;

const EXPECTED_STDOUT = ["todo: 3", "lines of code: 7", "src/lib/slug.ts", "docs/notes.md", "src/app.ts", "src/lib/slug.ts", ""].join("\n");

const EXPECTED_TODO = ["docs/notes.md:2:TODO: write the README", "src/app.ts:2:// TODO: read the titles from argv", "src/lib/slug.ts:1:// TODO: handle unicode", ""].join("\n");

export async function runJustBashDemo({ log = console.log }: DemoOptions = {}): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "s3fs-demo-just-bash-"));
  // Two machines sharing one bucket: each has its own manager and cacheRoot.
  const writerManager = new S3CachedFsManagerImpl({ cacheRoot: join(root, "writer-cache") });
  const readerManager = new S3CachedFsManagerImpl({ cacheRoot: join(root, "reader-cache") });
  try {
    const store = new LocalObjectStore(join(root, "bucket"));
    const writer = await writerManager.mount({ name: "agent", mode: "readwrite", store, cacheBytes: 64 << 20 });
    const reader = await readerManager.mount({ name: "reviewer", mode: "readonly", store, cacheBytes: 64 << 20 });
    const shell = await createAcceleratedJustBashShell({ filesystem: writer, cwd: "/project", env: { LANG: "C" } });
    log(`just-bash shell on a readwrite mount of LocalObjectStore(${store.rootDir}), cwd ${shell.getCwd()}`);

    const commits = writer.stats().commits;
    writer.resetStats();
    const t0 = performance.now();
    const r = await shell.exec(SCRIPT);
    const ms = performance.now() - t0;
    const lines = SCRIPT.split("\n").length;
    log(`ran a ${lines}-line script (3 heredocs, pipes, grep -rn, sed -i, find, wc) in ${ms.toFixed(0)} ms: exit ${r.exitCode}`);
    for (const line of r.stdout.trimEnd().split("\n")) log(`  | ${line}`);
    check(r.exitCode === 0 && r.stderr === "", `the script succeeds (stderr: ${r.stderr})`);
    check(r.stdout === EXPECTED_STDOUT, "the script prints the expected report");
    const written = writer.stats();
    log(`the whole script was ${written.commits - commits} commit: ${describeRequests(written.requests)} (bodies pack, WAL record, head)`);
    check(written.commits - commits === 1, "one exec is one commit");
    check(written.requests.put <= 3, "one commit is at most three PUTs");
    check((await writer.readText("/project/src/lib/slug.ts")).startsWith("// DONE: handle unicode\n"), "sed -i edited the file in place");

    check(!reader.existsSync("/project"), "the reader keeps its view until it refreshes");
    reader.resetStats();
    const refreshed = await reader.refresh();
    log(`reader refresh: ${refreshed.outcome} to seq ${refreshed.seq} (${describeRequests(reader.stats().requests)})`);
    check(refreshed.outcome === "advanced" && refreshed.seq === writer.seq, "the reader caught up in one refresh");

    const readShell = await createAcceleratedJustBashShell({ filesystem: reader, cwd: "/project" });
    reader.resetStats();
    const seen = await readShell.exec("cat out/todo.txt && find . -type f | wc -l && grep -c DONE src/lib/slug.ts");
    log(`reader shell: cat out/todo.txt && find . -type f | wc -l && grep -c DONE src/lib/slug.ts (${describeRequests(reader.stats().requests)})`);
    for (const line of seen.stdout.trimEnd().split("\n")) log(`  | ${line}`);
    check(seen.exitCode === 0 && seen.stdout === `${EXPECTED_TODO}5\n1\n`, "the reader sees the script's files");

    const denied = await readShell.exec("mkdir scratch; echo $?");
    log(`reader shell: mkdir scratch → exit ${denied.stdout.trim()}, ${denied.stderr.trim()}`);
    check(denied.stdout === "1\n" && denied.stderr.includes("EROFS") && !reader.existsSync("/project/scratch"), "a reader cannot write");
    log("demo:just-bash OK");
  } finally {
    await writerManager.close();
    await readerManager.close();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.main) await runJustBashDemo();

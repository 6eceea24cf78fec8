// Traversals of the whole tree, and grep's search.
import type { CachedFs, Dirent } from "../core.ts";
import { childOf } from "../adapters/paths.ts";
import { eachSliced, Slicer } from "../slices.ts";
import { posix } from "node:path";
import type { FilesystemGrepMatch, FilesystemGrepOptions, FilesystemGrepResult } from "./types.ts";

// Whole-tree traversals (readdir recursive, walk, grep) list the tree with one asynchronous recursive
// readdir, which the engine runs off the JS thread, then visit the entries in slices of at most
// TRAVERSAL_SLICE_MS, yielding to the event loop between slices (per-entry lookups such as a file's
// size are synchronous SQLite reads).
const TRAVERSAL_SLICE_MS = 4;

/** Calls `visit` for every entry under `dir` (pre-order, names sorted), with its path relative to `dir`. */
export async function eachInTree(fs: CachedFs, dir: string, visit: (rel: string, segments: string[], d: Dirent) => void): Promise<void> {
  const tree = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  await eachSliced(tree, (d) => visit(d.name, d.name.split("/"), d), new Slicer(TRAVERSAL_SLICE_MS));
}

const GREP_READ_CONCURRENCY = 16;

/** A file grep searches: its engine path, and its path as reported (relative to the searched directory). */
export interface GrepFile {
  engine: string;
  rel: string;
}

/**
 * The files grep searches under `root`, from metadata alone, listed off the JS thread: `root` itself when
 * it is a text file; else the text files under it, skipping hidden names unless `includeHidden`, `.git`
 * directories and symlinked directories.
 */
export async function grepFiles(fs: CachedFs, root: string, includeHidden: boolean, isTextFile: (name: string) => boolean): Promise<GrepFile[]> {
  const files: GrepFile[] = [];
  const st = fs.statSync(root);
  if (!st.isDirectory()) {
    if (isTextFile(root)) files.push({ engine: root, rel: posix.basename(root) });
    return files;
  }
  await eachInTree(fs, root, (rel, segments, d) => {
    if (d.isDirectory() || !isTextFile(rel)) return;
    if (!includeHidden && segments.some((s) => s.startsWith("."))) return;
    // `.git` directories are not searched.
    if (segments.slice(0, -1).includes(".git")) return;
    const p = childOf(root, rel);
    // Regular files and symlinks to files (followed); symlinks to directories are not entered.
    if (d.isSymbolicLink() && !(fs.existsSync(p) && fs.statSync(p).isFile())) return;
    files.push({ engine: p, rel });
  });
  return files;
}

/** Searches `files` line by line with `regex` (the first match on each line), within the options' limits. */
export async function grepSearch(fs: CachedFs, files: readonly GrepFile[], regex: RegExp, options: FilesystemGrepOptions): Promise<FilesystemGrepResult[]> {
  const context = Math.max(0, Math.floor(options.contextLines ?? 0));
  const perFile = options.maxCountPerFile ?? Infinity;
  const cap = options.maxTotalMatches ?? Infinity;
  // Bytes, a window at a time (the engine fetches a shared pack block once), in path order.
  const results: FilesystemGrepResult[] = [];
  let total = 0;
  for (let start = 0; start < files.length && total < cap; start += GREP_READ_CONCURRENCY) {
    const window = files.slice(start, start + GREP_READ_CONCURRENCY);
    const contents = await Promise.all(window.map((f) => fs.readFile(f.engine).then((b) => b.toString("utf-8"), () => undefined)));
    for (let i = 0; i < window.length && total < cap; i++) {
      const text = contents[i];
      const file = window[i];
      if (text === undefined || file === undefined) continue;
      const lines = text.split("\n");
      const matches: FilesystemGrepMatch[] = [];
      for (let n = 0; n < lines.length && matches.length < perFile && total < cap; n++) {
        const line = lines[n] ?? "";
        const m = regex.exec(line);
        if (m === null) continue;
        const match: FilesystemGrepMatch = { line: n + 1, column: m.index, text: line };
        if (context > 0) {
          match.before = lines.slice(Math.max(0, n - context), n);
          match.after = lines.slice(n + 1, n + 1 + context);
        }
        matches.push(match);
        total++;
      }
      if (matches.length > 0) results.push({ path: file.rel, matches });
    }
  }
  return results;
}

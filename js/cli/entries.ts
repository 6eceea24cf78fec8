// Workspace entries as the reading commands show them.
import type { CachedFs, Stats } from "../core.ts";
import type { Kind } from "./format.ts";
import { eachSliced, Slicer } from "../slices.ts";

export interface Entry {
  /** As displayed: relative to the listed directory (or the path given). */
  name: string;
  /** Absolute workspace path. */
  path: string;
  type: Kind;
  size: number;
  /** Permission bits (`0o644`). */
  mode: number;
  mtimeMs: number;
  /** Symlinks: what they point at. */
  target?: string;
}

export function kindOf(st: Stats): Kind {
  return st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : "file";
}

export function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

export function entryOf(fs: CachedFs, path: string, name: string): Entry {
  const st = fs.lstatSync(path);
  const e: Entry = { name, path, type: kindOf(st), size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
  if (st.isSymbolicLink()) e.target = fs.readlinkSync(path);
  return e;
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** A directory's entries (with `recursive`, every descendant as a relative path), sorted by name. */
export async function listDir(fs: CachedFs, dir: string, recursive: boolean): Promise<Entry[]> {
  const out: Entry[] = [];
  await eachTreeEntry(fs, dir, recursive, (name) => out.push(entryOf(fs, joinPath(dir, name), name)));
  return out.sort(byName);
}

/**
 * `f` for the name of each entry under `dir` (with `recursive`, relative `/`-separated paths): the listing
 * comes from the engine off the JS thread (async `readdir`), the per-entry work runs in slices, so a
 * 100,000-entry tree never stalls the event loop for long.
 */
export async function eachTreeEntry(fs: CachedFs, dir: string, recursive: boolean, f: (name: string) => void, slicer = new Slicer()): Promise<void> {
  const names = await fs.readdir(dir, { recursive });
  await eachSliced(names, f, slicer);
}

/** Whether `path` is a directory, following a symlink. */
export function isDir(fs: CachedFs, path: string): boolean {
  try {
    return fs.statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Every entry under `dir` down to `maxDepth` levels, as relative names grouped by depth (shallowest
 * first, each group in listing order): parents come before their children without sorting the listing.
 */
export async function treeByDepth(fs: CachedFs, dir: string, maxDepth: number, slicer = new Slicer()): Promise<string[]> {
  const levels: string[][] = [];
  await eachTreeEntry(
    fs,
    dir,
    true,
    (name) => {
      let depth = 0;
      for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) depth++;
      if (depth >= maxDepth) return;
      (levels[depth] ??= []).push(name);
    },
    slicer,
  );
  return levels.flat();
}

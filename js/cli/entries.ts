// Workspace entries as the reading commands show them.
import type { CachedFs, Stats } from "../core.ts";
import type { Kind } from "./format.ts";

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
export function listDir(fs: CachedFs, dir: string, recursive: boolean): Entry[] {
  return fs
    .readdirSync(dir, { recursive, withFileTypes: true })
    .map((d) => entryOf(fs, joinPath(dir, d.name), d.name))
    .sort(byName);
}

/** Whether `path` is a directory, following a symlink. */
export function isDir(fs: CachedFs, path: string): boolean {
  try {
    return fs.statSync(path).isDirectory();
  } catch {
    return false;
  }
}

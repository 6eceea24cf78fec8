// What a sync has to do: two listings (source and destination, keyed by relative path) compared by
// kind, size and mtime. The plan is pure: no I/O, so both directions share it. The listings are made
// without stalling the JS thread: directories are read asynchronously, per-entry work runs in slices.
import { lstatSync, readlinkSync, statSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { CachedFs } from "../core.ts";
import { eachTreeEntry, kindOf } from "./entries.ts";
import type { Kind } from "./format.ts";
import { Slicer } from "../slices.ts";

export interface Item {
  kind: Kind;
  size: number;
  mtimeMs: number;
  /** Permission bits. */
  mode: number;
  target?: string;
}

/** Relative path (`a/b.txt`, `/`-separated) → item; the root itself is not in it. */
export type Listing = Map<string, Item>;

export interface SyncPlan {
  /** Destination entries to remove first (only the topmost of a removed subtree). */
  deletes: string[];
  /** Directories to create, parents before children. */
  mkdirs: string[];
  /** Files to transfer. */
  copies: string[];
  /** Symlinks to (re)create. */
  links: string[];
  /** Paths whose kind differs on the two sides; replacing them needs --delete. */
  conflicts: string[];
  /** Files and symlinks already the same. */
  unchanged: number;
  /** Bytes of the files to transfer. */
  bytes: number;
}

/** Our own temporary download files, never synced. */
export const TEMP_NAME = /^\..+\.s3fs-[0-9a-f]{12}\.tmp$/;

/** mtimes are equal to the millisecond (the workspace keeps whole milliseconds). */
export const sameTime = (a: number, b: number): boolean => Math.abs(a - b) < 1;

const parentOf = (p: string): string | undefined => {
  const i = p.lastIndexOf("/");
  return i < 0 ? undefined : p.slice(0, i);
};

export function planSync(src: Listing, dst: Listing, allowDelete: boolean): SyncPlan {
  const plan: SyncPlan = { deletes: [], mkdirs: [], copies: [], links: [], conflicts: [], unchanged: 0, bytes: 0 };
  const removed = new Set<string>();
  const remove = (p: string) => {
    plan.deletes.push(p);
    removed.add(p);
  };
  for (const [p, s] of [...src].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const d = dst.get(p);
    if (d !== undefined && d.kind !== s.kind) {
      if (!allowDelete) {
        plan.conflicts.push(p);
        continue;
      }
      remove(p);
    }
    const present = d !== undefined && d.kind === s.kind;
    if (s.kind === "directory") {
      if (!present) plan.mkdirs.push(p);
    } else if (s.kind === "symlink") {
      if (present && d.target === s.target) plan.unchanged++;
      else plan.links.push(p);
    } else if (present && d.size === s.size && sameTime(d.mtimeMs, s.mtimeMs)) {
      plan.unchanged++;
    } else {
      plan.copies.push(p);
      plan.bytes += s.size;
    }
  }
  if (allowDelete) {
    for (const p of [...dst.keys()].sort()) {
      if (src.has(p) || removed.has(p)) continue;
      // Inside a subtree already going away?
      let up = parentOf(p);
      while (up !== undefined && !removed.has(up)) up = parentOf(up);
      if (up === undefined) remove(p);
    }
  }
  return plan;
}

export function planIsEmpty(plan: SyncPlan): boolean {
  return plan.deletes.length + plan.mkdirs.length + plan.copies.length + plan.links.length === 0;
}

/** Everything under a local directory (lstat: symlinks are listed as such). Other kinds are skipped. */
export async function listLocal(root: string): Promise<{ listing: Listing; skipped: string[] }> {
  const listing: Listing = new Map();
  const skipped: string[] = [];
  const slicer = new Slicer();
  const walk = async (dir: string, rel: string) => {
    for (const name of await readdir(dir)) {
      if (slicer.due) await slicer.pause();
      if (TEMP_NAME.test(name)) continue;
      const abs = join(dir, name);
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const st = lstatSync(abs);
      const mode = st.mode & 0o777;
      if (st.isDirectory()) {
        listing.set(relPath, { kind: "directory", size: 0, mtimeMs: st.mtimeMs, mode });
        await walk(abs, relPath);
      } else if (st.isFile()) {
        listing.set(relPath, { kind: "file", size: st.size, mtimeMs: st.mtimeMs, mode });
      } else if (st.isSymbolicLink()) {
        listing.set(relPath, { kind: "symlink", size: st.size, mtimeMs: st.mtimeMs, mode, target: readlinkSync(abs) });
      } else {
        skipped.push(relPath);
      }
    }
  };
  if (statSync(root).isDirectory()) await walk(root, "");
  return { listing, skipped };
}

/** Everything under a workspace directory. */
export async function listRemote(fs: CachedFs, root: string): Promise<Listing> {
  const listing: Listing = new Map();
  await eachTreeEntry(fs, root, true, (name) => {
    const path = root === "/" ? `/${name}` : `${root}/${name}`;
    const st = fs.lstatSync(path);
    const item: Item = { kind: kindOf(st), size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o777 };
    if (st.isSymbolicLink()) item.target = fs.readlinkSync(path);
    listing.set(name, item);
  });
  return listing;
}

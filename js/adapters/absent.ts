// The adapters' one "absent" rule: a lookup that fails with ENOENT, or with ENOTDIR (the path runs
// through a file), means the path is not there.
import type { CachedFs, Stats, Transaction } from "../core.ts";

/** What an adapter call is applied to: the mount itself, or a transaction. */
export type View = CachedFs | Transaction;

/** The Node-style `code` of an error (or of any object carrying one). */
export function codeOf(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** Whether `e` says the path looked up is not there (ENOENT or ENOTDIR). */
export function isAbsent(e: unknown): boolean {
  const code = codeOf(e);
  return code === "ENOENT" || code === "ENOTDIR";
}

/** `lookup()`, or undefined when it finds the path absent. */
function unlessAbsent<T>(lookup: () => T): T | undefined {
  try {
    return lookup();
  } catch (e) {
    if (isAbsent(e)) return undefined;
    throw e;
  }
}

/** `stat` (following symlinks), or undefined when the path is absent. */
export const statOrUndefined = (view: View, p: string): Stats | undefined => unlessAbsent(() => view.statSync(p));

/** `lstat`, or undefined when the path is absent. */
export const lstatOrUndefined = (view: View, p: string): Stats | undefined => unlessAbsent(() => view.lstatSync(p));

import type { View } from "../adapters/absent.ts";
import { lstatOrUndefined } from "../adapters/absent.ts";
import { parentOf } from "../adapters/paths.ts";

// The path index behind `getAllPaths`.
//
// just-bash's `IFileSystem.getAllPaths()` is synchronous (its only caller, `ls` given an argument that
// still holds glob characters, does not await it), and a synchronous walk of a large workspace blocks
// the JS thread. So a view can be indexed before its script runs: the whole tree is listed once by the
// engine's asynchronous recursive readdir (off the JS thread), and the view remembers the paths its own
// calls changed since. `getAllPaths` then answers from that listing, re-reading only the changed paths
// (and the subtrees under them) from the view, which is bounded by what the script itself did.

export class PathIndex {
  /** The workspace's entries at indexing time, relative to the root. */
  readonly #base: readonly string[];
  /** Paths this view's own calls created, changed, moved or removed since. */
  readonly #touched = new Set<string>();

  constructor(base: readonly string[]) {
    this.#base = base;
  }

  touch(path: string): void {
    this.#touched.add(path);
  }

  list(view: View): string[] {
    const touched = this.#touched;
    const absolute = (rel: string): string => `/${rel}`;
    if (touched.size === 0) return ["/", ...this.#base.map(absolute)];
    const covered = (p: string): boolean => {
      for (let q = p; ; q = parentOf(q)) {
        if (touched.has(q)) return true;
        if (q === "/") return false;
      }
    };
    const out = new Set<string>(["/"]);
    for (const rel of this.#base) {
      const p = absolute(rel);
      if (!covered(p)) out.add(p);
    }
    for (const t of touched) {
      if (t !== "/" && covered(parentOf(t))) continue; // listed with its touched ancestor
      // Directories the change created on the way (`mkdir -p`, a write that made its parents).
      for (let q = parentOf(t); q !== "/" && !out.has(q); q = parentOf(q)) if (lstatOrUndefined(view, q) !== undefined) out.add(q);
      const st = lstatOrUndefined(view, t);
      if (st === undefined) continue;
      out.add(t);
      if (st.isDirectory()) for (const name of view.readdirSync(t, { recursive: true })) out.add(t === "/" ? `/${name}` : `${t}/${name}`);
    }
    return [...out];
  }
}

/** Whether a script may call `getAllPaths`: only `ls` does, for an argument with glob characters left in it. */
export const mayListGlobs = (script: string): boolean => /\bls\b/.test(script) && /[*?[]/.test(script);


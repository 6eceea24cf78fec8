import type { CachedFs } from "../../core.ts";
import { flag, expectArgs, remotePath, type Command } from "../command.ts";
import { joinPath, kindOf, treeByDepth } from "../entries.ts";
import { eachSliced, Slicer } from "../../slices.ts";
import { shortBytes } from "../format.ts";
import { printJson, printLines } from "../output.ts";

export interface Usage {
  path: string;
  bytes: number;
  files: number;
  directories: number;
  symlinks: number;
}

interface Dir extends Usage {
  /** Child directories, by name. */
  dirs: Map<string, Dir>;
}

const usageOf = (path: string, kind: string, size: number): Usage => ({
  path,
  bytes: kind === "directory" ? 0 : size,
  files: kind === "file" ? 1 : 0,
  directories: kind === "directory" ? 1 : 0,
  symlinks: kind === "symlink" ? 1 : 0,
});

/**
 * Adds up apparent sizes under `path`: one recursive listing (off the JS thread), each entry's lstat in
 * slices; `onDir` sees each directory's total after its children's (names in order), deepest first.
 * Symlinks are counted, not followed.
 */
export async function diskUsage(fs: CachedFs, path: string, onDir: (u: Usage) => void): Promise<Usage> {
  const st = fs.lstatSync(path);
  if (!st.isDirectory()) return usageOf(path, kindOf(st), st.size);
  const slicer = new Slicer();
  const root: Dir = { ...usageOf(path, "directory", 0), dirs: new Map() };
  const dirs = new Map<string, Dir>([["", root]]);
  // Parents before children, so what lies under a symlink (if a listing ever showed it) is left out.
  const names = await treeByDepth(fs, path, Number.POSITIVE_INFINITY, slicer);
  await eachSliced(names, (rel) => {
    const cut = rel.lastIndexOf("/");
    const parent = dirs.get(cut < 0 ? "" : rel.slice(0, cut));
    if (parent === undefined) return;
    const child = joinPath(path, rel);
    const cst = fs.lstatSync(child);
    const u = usageOf(child, kindOf(cst), cst.size);
    if (cst.isDirectory()) {
      const dir: Dir = { ...u, dirs: new Map() };
      dirs.set(rel, dir);
      parent.dirs.set(rel.slice(cut + 1), dir);
    } else {
      add(parent, u);
    }
  }, slicer);
  await finish(root, onDir, slicer);
  return strip(root);
}

function add(to: Usage, u: Usage): void {
  to.bytes += u.bytes;
  to.files += u.files;
  to.directories += u.directories;
  to.symlinks += u.symlinks;
}

const strip = ({ path, bytes, files, directories, symlinks }: Dir): Usage => ({ path, bytes, files, directories, symlinks });

/** Totals each directory after its subdirectories (sorted by name), reporting it then. */
async function finish(dir: Dir, onDir: (u: Usage) => void, slicer: Slicer): Promise<void> {
  for (const name of [...dir.dirs.keys()].sort()) {
    if (slicer.due) await slicer.pause();
    const sub = dir.dirs.get(name) as Dir;
    await finish(sub, onDir, slicer);
    add(dir, sub);
  }
  onDir(strip(dir));
}

export const du: Command = {
  name: "du",
  summary: "add up the size of a tree",
  usage: "du [-h] [-s] [PATH]",
  details: `Prints the total apparent size in bytes (the sum of file sizes, not storage used) of every
directory under PATH (default /), deepest first, ending with PATH itself. -s prints only PATH's total.
--json prints {path, bytes, files, directories, symlinks} for PATH (directories counts PATH too).`,
  options: {
    "human-readable": { type: "boolean", short: "h", description: "sizes as 1.5K, 12M, 3.4G" },
    summarize: { type: "boolean", short: "s", description: "only the total for PATH" },
  },
  async run(ctx) {
    expectArgs(ctx, "du", 0, 1);
    const path = remotePath(ctx.args[0] ?? "/");
    const fs = await ctx.mount("readonly");
    const human = flag(ctx.values, "human-readable");
    const all = !flag(ctx.values, "summarize") && !ctx.json;
    const lines: string[] = [];
    const line = (u: Usage) => `${human ? shortBytes(u.bytes) : u.bytes}\t${u.path}`;
    const total = await diskUsage(fs, path, (u) => {
      if (all && u.path !== path) lines.push(line(u));
    });
    if (ctx.json) await printJson(total);
    else await printLines([...lines, line(total)]);
    return 0;
  },
};

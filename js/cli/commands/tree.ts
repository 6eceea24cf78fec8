import type { CachedFs } from "../../core.ts";
import { UsageError } from "../exit.ts";
import { AT_OPTION, flag, expectArgs, option, remotePath, type Command } from "../command.ts";
import { entryOf, joinPath, treeByDepth, type Entry } from "../entries.ts";
import { eachSliced, Slicer } from "../../slices.ts";
import { shortBytes } from "../format.ts";
import { printJson, printLines } from "../output.ts";

export interface Node extends Entry {
  children?: Node[];
}

const segments = (rel: string): number => rel.split("/").length;
const parentOf = (rel: string): string => (rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "");

/**
 * `path` and what is under it down to `maxDepth` levels: one recursive listing (off the JS thread), then
 * each entry's lstat in slices. A directory above the depth limit gets `children` (sorted by name, maybe
 * empty); symlinks are not followed.
 */
export async function buildTree(fs: CachedFs, path: string, maxDepth: number): Promise<Node> {
  const root: Node = entryOf(fs, path, path);
  if (root.type !== "directory" || maxDepth < 1) return root;
  const slicer = new Slicer();
  const nodes = new Map<string, Node>([["", root]]);
  // Parents before children, so an entry whose parent is not a listed directory (under a symlink) is dropped.
  const wanted = await treeByDepth(fs, path, maxDepth, slicer);
  await eachSliced(wanted, (rel) => {
    const parent = nodes.get(parentOf(rel));
    if (parent === undefined || parent.type !== "directory") return;
    const node: Node = entryOf(fs, joinPath(path, rel), rel.slice(rel.lastIndexOf("/") + 1));
    (parent.children ??= []).push(node);
    nodes.set(rel, node);
  }, slicer);
  await eachSliced(nodes.entries(), ([rel, node]) => {
    if (node.type !== "directory" || (rel !== "" && segments(rel) >= maxDepth)) return;
    node.children = (node.children ?? []).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }, slicer);
  return root;
}

async function render(node: Node, prefix: string, sizes: boolean, out: string[], counts: { dirs: number; files: number }, slicer: Slicer): Promise<void> {
  const kids = node.children ?? [];
  for (const [i, child] of kids.entries()) {
    if (slicer.due) await slicer.pause();
    const last = i === kids.length - 1;
    const size = sizes && child.type !== "directory" ? `[${shortBytes(child.size).padStart(5)}]  ` : "";
    const name = child.target === undefined ? child.name : `${child.name} -> ${child.target}`;
    out.push(`${prefix}${last ? "└── " : "├── "}${size}${name}`);
    if (child.type === "directory") counts.dirs++;
    else counts.files++;
    await render(child, prefix + (last ? "    " : "│   "), sizes, out, counts, slicer);
  }
}

export const tree: Command = {
  name: "tree",
  summary: "draw a directory tree",
  usage: "tree [-L LEVEL] [-s] [--at SEQ|NAME] [PATH]",
  details: `Draws PATH (default /) and everything under it, then counts directories and files.
--json prints the tree as nested {name, path, type, size, mode, mtimeMs, target?, children?}.
--at draws the workspace as it was at an earlier commit (a seq from log, or a checkpoint name).`,
  options: {
    level: { type: "string", short: "L", arg: "LEVEL", description: "descend at most LEVEL directories" },
    size: { type: "boolean", short: "s", description: "show file sizes" },
    at: AT_OPTION,
  },
  async run(ctx) {
    expectArgs(ctx, "tree", 0, 1);
    const path = remotePath(ctx.args[0] ?? "/");
    const levelText = option(ctx.values, "level");
    const level = levelText === undefined ? Number.POSITIVE_INFINITY : Number(levelText);
    if (levelText !== undefined && (!Number.isInteger(level) || level < 1)) throw new UsageError(`-L wants a positive whole number, not '${levelText}'`);
    const fs = await ctx.mount("readonly");
    const root = await buildTree(fs, path, level);
    if (ctx.json) {
      await printJson(root);
      return 0;
    }
    const out = [path];
    const counts = { dirs: 0, files: 0 };
    await render(root, "", flag(ctx.values, "size"), out, counts, new Slicer());
    out.push("", `${counts.dirs} ${counts.dirs === 1 ? "directory" : "directories"}, ${counts.files} ${counts.files === 1 ? "file" : "files"}`);
    await printLines(out);
    return 0;
  },
};

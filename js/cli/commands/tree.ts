import type { CachedFs } from "../../core.ts";
import { UsageError } from "../exit.ts";
import { flag, expectArgs, option, remotePath, type Command } from "../command.ts";
import { entryOf, joinPath, type Entry } from "../entries.ts";
import { shortBytes } from "../format.ts";
import { printJson, printLines } from "../output.ts";

interface Node extends Entry {
  children?: Node[];
}

function build(fs: CachedFs, path: string, name: string, depth: number, maxDepth: number): Node {
  const node: Node = entryOf(fs, path, name);
  if (node.type === "directory" && depth < maxDepth) {
    node.children = fs
      .readdirSync(path, { withFileTypes: true })
      .map((d) => d.name)
      .sort()
      .map((child) => build(fs, joinPath(path, child), child, depth + 1, maxDepth));
  }
  return node;
}

function render(node: Node, prefix: string, sizes: boolean, out: string[], counts: { dirs: number; files: number }): void {
  const kids = node.children ?? [];
  kids.forEach((child, i) => {
    const last = i === kids.length - 1;
    const size = sizes && child.type !== "directory" ? `[${shortBytes(child.size).padStart(5)}]  ` : "";
    const name = child.target === undefined ? child.name : `${child.name} -> ${child.target}`;
    out.push(`${prefix}${last ? "└── " : "├── "}${size}${name}`);
    if (child.type === "directory") counts.dirs++;
    else counts.files++;
    render(child, prefix + (last ? "    " : "│   "), sizes, out, counts);
  });
}

export const tree: Command = {
  name: "tree",
  summary: "draw a directory tree",
  usage: "tree [-L LEVEL] [-s] [PATH]",
  details: `Draws PATH (default /) and everything under it, then counts directories and files.
--json prints the tree as nested {name, path, type, size, mode, mtimeMs, target?, children?}.`,
  options: {
    level: { type: "string", short: "L", arg: "LEVEL", description: "descend at most LEVEL directories" },
    size: { type: "boolean", short: "s", description: "show file sizes" },
  },
  async run(ctx) {
    expectArgs(ctx, "tree", 0, 1);
    const path = remotePath(ctx.args[0] ?? "/");
    const levelText = option(ctx.values, "level");
    const level = levelText === undefined ? Number.POSITIVE_INFINITY : Number(levelText);
    if (levelText !== undefined && (!Number.isInteger(level) || level < 1)) throw new UsageError(`-L wants a positive whole number, not '${levelText}'`);
    const fs = await ctx.mount("readonly");
    const root = build(fs, path, path, 0, level);
    if (ctx.json) {
      await printJson(root);
      return 0;
    }
    const out = [path];
    const counts = { dirs: 0, files: 0 };
    render(root, "", flag(ctx.values, "size"), out, counts);
    out.push("", `${counts.dirs} ${counts.dirs === 1 ? "directory" : "directories"}, ${counts.files} ${counts.files === 1 ? "file" : "files"}`);
    await printLines(out);
    return 0;
  },
};

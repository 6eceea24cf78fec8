import type { CachedFs } from "../../core.ts";
import { flag, expectArgs, remotePath, type Command } from "../command.ts";
import { joinPath, kindOf } from "../entries.ts";
import { shortBytes } from "../format.ts";
import { printJson, printLines } from "../output.ts";

interface Usage {
  path: string;
  bytes: number;
  files: number;
  directories: number;
  symlinks: number;
}

/** Walks `path`, adding up apparent sizes; `onDir` sees each directory's total after its children. */
function walk(fs: CachedFs, path: string, onDir: (u: Usage) => void): Usage {
  const st = fs.lstatSync(path);
  const kind = kindOf(st);
  const u: Usage = { path, bytes: st.isDirectory() ? 0 : st.size, files: kind === "file" ? 1 : 0, directories: kind === "directory" ? 1 : 0, symlinks: kind === "symlink" ? 1 : 0 };
  if (!st.isDirectory()) return u;
  for (const name of fs.readdirSync(path, { withFileTypes: true }).map((d) => d.name).sort()) {
    const child = walk(fs, joinPath(path, name), onDir);
    u.bytes += child.bytes;
    u.files += child.files;
    u.directories += child.directories;
    u.symlinks += child.symlinks;
  }
  onDir(u);
  return u;
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
    const total = walk(fs, path, (u) => {
      if (all && u.path !== path) lines.push(line(u));
    });
    if (ctx.json) await printJson(total);
    else await printLines([...lines, line(total)]);
    return 0;
  },
};

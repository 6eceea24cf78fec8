import { AT_OPTION, flag, expectArgs, remotePath, type Command } from "../command.ts";
import { entryOf, isDir, listDir, type Entry } from "../entries.ts";
import { columns, modeString, shortBytes, shortTime } from "../format.ts";
import { printJson, printLines } from "../output.ts";

function longRows(entries: Entry[], human: boolean): string[] {
  const rows = entries.map((e) => [
    modeString(e.type, e.mode),
    e.type === "directory" ? "-" : human ? shortBytes(e.size) : String(e.size),
    shortTime(e.mtimeMs),
    e.target === undefined ? e.name : `${e.name} -> ${e.target}`,
  ]);
  return columns(rows, new Set([1]));
}

export const ls: Command = {
  name: "ls",
  summary: "list a directory of the workspace",
  usage: "ls [-l] [-R] [-h] [--at SEQ|NAME] [PATH]",
  details: `Lists PATH (default /), one name per line, sorted; for a file, the file itself. -R lists
every descendant as a path relative to PATH. -l adds type and permission bits, size in bytes (-h:
1.5K, 12M), modification time and symlink targets. --json prints an array of
{name, path, type, size, mode, mtimeMs, target?} (mode: the permission bits). --at lists the
workspace as it was at an earlier commit (a seq from log, or a checkpoint name).

Examples:
  s3-bun-cached-fs s3://bucket/team ls -l /docs
  s3-bun-cached-fs ls -R --json -w ./store /
  s3-bun-cached-fs s3://bucket/team ls --at before-agent /docs`,
  options: {
    long: { type: "boolean", short: "l", description: "long listing: mode, size, time, name" },
    recursive: { type: "boolean", short: "R", description: "list every descendant (paths relative to PATH)" },
    "human-readable": { type: "boolean", short: "h", description: "sizes as 1.5K, 12M (with -l)" },
    at: AT_OPTION,
  },
  async run(ctx) {
    expectArgs(ctx, "ls", 0, 1);
    const path = remotePath(ctx.args[0] ?? "/");
    const fs = await ctx.mount("readonly");
    const entries = isDir(fs, path) ? await listDir(fs, path, flag(ctx.values, "recursive")) : [entryOf(fs, path, path)];
    if (ctx.json) await printJson(entries);
    else if (flag(ctx.values, "long")) await printLines(longRows(entries, flag(ctx.values, "human-readable")));
    else await printLines(entries.map((e) => e.name));
    return 0;
  },
};

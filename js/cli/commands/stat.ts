import { flag, expectArgs, remotePath, type Command } from "../command.ts";
import { kindOf } from "../entries.ts";
import { longTime, modeString } from "../format.ts";
import { printJson, printLines } from "../output.ts";

export const stat: Command = {
  name: "stat",
  summary: "show a path's type, size, mode and times",
  usage: "stat [-L] PATH...",
  details: `Prints the status of each PATH. A symlink is described itself unless -L follows it.
--json prints an array of {path, type, size, mode, ino, mtimeMs, ctimeMs, mtime, ctime, target?}
(mode is the permission bits; times as milliseconds and as ISO 8601).`,
  options: {
    dereference: { type: "boolean", short: "L", description: "follow symlinks" },
  },
  async run(ctx) {
    expectArgs(ctx, "stat", 1, Number.POSITIVE_INFINITY);
    const fs = await ctx.mount("readonly");
    const follow = flag(ctx.values, "dereference");
    const infos = ctx.args.map(remotePath).map((path) => {
      const st = follow ? fs.statSync(path) : fs.lstatSync(path);
      const info = {
        path,
        type: kindOf(st),
        size: st.size,
        mode: st.mode & 0o7777,
        ino: st.ino,
        mtimeMs: st.mtimeMs,
        ctimeMs: st.ctimeMs,
        mtime: new Date(st.mtimeMs).toISOString(),
        ctime: new Date(st.ctimeMs).toISOString(),
        ...(st.isSymbolicLink() ? { target: fs.readlinkSync(path) } : {}),
      };
      return info;
    });
    if (ctx.json) {
      await printJson(infos);
      return 0;
    }
    const lines: string[] = [];
    for (const i of infos) {
      if (lines.length > 0) lines.push("");
      lines.push(
        `  File: ${i.path}${i.target === undefined ? "" : ` -> ${i.target}`}`,
        `  Type: ${i.type}`,
        `  Size: ${i.size}`,
        `  Mode: ${i.mode.toString(8).padStart(4, "0")} (${modeString(i.type, i.mode)})`,
        ` Inode: ${i.ino}`,
        `Modify: ${longTime(i.mtimeMs)}`,
        `Change: ${longTime(i.ctimeMs)}`,
      );
    }
    await printLines(lines);
    return 0;
  },
};

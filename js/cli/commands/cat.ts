import { AT_OPTION, expectArgs, remotePath, type Command } from "../command.ts";
import { fsError } from "../../errors.ts";
import { pipeToStdout } from "../output.ts";

export const cat: Command = {
  name: "cat",
  summary: "write files of the workspace to stdout",
  usage: "cat [--at SEQ|NAME] PATH...",
  details: `Streams each file to stdout, in order, as raw bytes (large files are read ahead in blocks,
not loaded whole). Symlinks are followed. --at reads the files as they were at an earlier commit (a
seq from log, or a checkpoint name).

Examples:
  s3-bun-cached-fs s3://bucket/team cat /notes/todo.md | head
  s3-bun-cached-fs s3://bucket/team cat --at 41 /notes/todo.md`,
  options: { at: AT_OPTION },
  async run(ctx) {
    expectArgs(ctx, "cat", 1, Number.POSITIVE_INFINITY);
    const fs = await ctx.mount("readonly");
    const paths = ctx.args.map(remotePath);
    // Check them all first, so a bad path fails before any output.
    for (const p of paths) if (fs.statSync(p).isDirectory()) throw fsError("EISDIR", "illegal operation on a directory", "read", p);
    for (const p of paths) await pipeToStdout(fs.stream(p));
    return 0;
  },
};

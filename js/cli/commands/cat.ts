import { expectArgs, remotePath, type Command } from "../command.ts";
import { fsError } from "../../errors.ts";
import { pipeToStdout } from "../output.ts";

export const cat: Command = {
  name: "cat",
  summary: "write files of the workspace to stdout",
  usage: "cat PATH...",
  details: `Streams each file to stdout, in order, as raw bytes (large files are read ahead in blocks,
not loaded whole). Symlinks are followed.

Example:
  s3-bun-cached-fs s3://bucket/team cat /notes/todo.md | head`,
  options: {},
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

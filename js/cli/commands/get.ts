import { existsSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { fsError } from "../../errors.ts";
import { AT_OPTION, expectArgs, remotePath, type Command } from "../command.ts";
import { iecBytes } from "../format.ts";
import { pipeToStdout, printJson, printLines } from "../output.ts";
import { startProgress } from "../progress.ts";
import { downloadFile } from "../transfer.ts";

export const get: Command = {
  name: "get",
  summary: "download one file of the workspace (or write it to stdout)",
  usage: "get [--at SEQ|NAME] PATH LOCAL",
  details: `Downloads PATH to LOCAL (- for stdout). If LOCAL ends with / or is a directory, the file keeps
its name inside it. The local file gets the workspace file's mtime and permission bits and appears
only when complete (it is written beside its place first, then renamed). --at downloads the file as
it was at an earlier commit (a seq from log, or a checkpoint name).

Examples:
  s3-bun-cached-fs s3://bucket/team get /reports/q3.pdf ./
  s3-bun-cached-fs s3://bucket/team get --at before-agent /reports/q3.pdf ./q3-before.pdf`,
  options: { at: AT_OPTION },
  async run(ctx) {
    expectArgs(ctx, "get", 2, 2);
    const [src = "", local = ""] = ctx.args;
    const fs = await ctx.mount("readonly");
    const path = remotePath(src);
    const st = fs.statSync(path);
    if (st.isDirectory()) throw fsError("EISDIR", "get downloads one file; use sync for a directory", "get", path);
    if (local === "-") {
      await pipeToStdout(fs.stream(path));
      return 0;
    }
    const dest = local.endsWith("/") || (existsSync(local) && statSync(local).isDirectory()) ? join(local, posix.basename(path)) : local;
    const progress = startProgress(ctx.progress, "get", { files: 1, bytes: st.size });
    let got = 0;
    try {
      await downloadFile(fs, path, dest, (n) => progress.update(0, (got += n)));
      progress.update(1, st.size);
    } finally {
      progress.stop();
    }
    const result = { path, local: dest, bytes: st.size, mtimeMs: st.mtimeMs };
    if (ctx.json) await printJson(result);
    else if (!ctx.quiet) await printLines([`${path} -> ${dest} (${iecBytes(st.size)})`]);
    return 0;
  },
};

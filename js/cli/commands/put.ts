import { statSync } from "node:fs";
import { basename } from "node:path";
import { Readable } from "node:stream";
import { fsError } from "../../errors.ts";
import { localFile } from "../../local-file.ts";
import { flag, expectArgs, remotePath, type Command } from "../command.ts";
import { UsageError } from "../exit.ts";
import { isDir, joinPath } from "../entries.ts";
import { iecBytes } from "../format.ts";
import { printJson, printLines } from "../output.ts";
import { startProgress } from "../progress.ts";
import { watchUploads } from "../transfer.ts";

export const put: Command = {
  name: "put",
  summary: "upload one local file (or stdin) into the workspace",
  usage: "put [-p] LOCAL PATH",
  details: `Uploads LOCAL (a file, or - for stdin) to PATH in one commit, streamed a chunk at a time.
Missing parent directories are created. If PATH ends with / or is a directory, the file keeps its
name inside it. The workspace mtime is the upload time, like cp; -p keeps the local file's mtime
and permission bits (one more small commit), so a later sync sees the file as unchanged.

put mounts the workspace readwrite: it takes the writer role, which fences any other readwrite
mount (say, a running app), whose next commit then fails with EFENCED.

Examples:
  s3-bun-cached-fs s3://bucket/team put ./report.pdf /reports/
  pg_dump db | s3-bun-cached-fs s3://bucket/team put - /backups/db.sql`,
  options: {
    preserve: { type: "boolean", short: "p", description: "keep the local mtime and permission bits" },
  },
  async run(ctx) {
    expectArgs(ctx, "put", 2, 2);
    const [local = "", dest = ""] = ctx.args;
    const fromStdin = local === "-";
    const st = fromStdin ? undefined : statSync(local);
    if (st?.isDirectory() === true) throw fsError("EISDIR", "put uploads one file; use sync for a directory", "put", local);
    if (fromStdin && flag(ctx.values, "preserve")) throw new UsageError("-p needs a local file, not stdin");
    const fs = await ctx.mount("readwrite");
    let path = remotePath(dest);
    if (dest.endsWith("/") || isDir(fs, path)) {
      if (fromStdin) throw fsError("EISDIR", "put from stdin needs a file path", "put", path);
      path = joinPath(path, basename(local));
    }
    const size = st?.size ?? 0;
    const progress = startProgress(ctx.progress, "put", { files: 1, bytes: size });
    let sent = 0;
    const stop = watchUploads(fs, (up) => {
      sent = up;
      if (fromStdin) progress.setTotals(1, up);
      progress.update(0, up);
    });
    try {
      await fs.writeFile(path, fromStdin ? stdinStream() : localFile(local), { recursive: true });
    } finally {
      stop();
    }
    const bytes = fromStdin ? fs.statSync(path).size : size;
    progress.setTotals(1, bytes);
    progress.update(1, Math.max(sent, bytes));
    progress.stop();
    if (st !== undefined && flag(ctx.values, "preserve")) {
      await fs.transaction(async (tx) => {
        await tx.utimes(path, new Date(), new Date(Math.trunc(st.mtimeMs)));
        await tx.chmod(path, st.mode & 0o777);
      });
    }
    const result = { local, path, bytes, seq: fs.seq };
    if (ctx.json) await printJson(result);
    else if (!ctx.quiet) await printLines([`${local === "-" ? "stdin" : local} -> ${path} (${iecBytes(bytes)}, seq ${fs.seq})`]);
    return 0;
  },
};

/** Standard input as a Web stream (Bun's own under Bun). */
function stdinStream(): ReadableStream<Uint8Array> {
  return typeof Bun !== "undefined" ? Bun.stdin.stream() : (Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>);
}

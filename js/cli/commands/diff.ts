import type { Change } from "../../core.ts";
import { commitRef, expectArgs, option, remotePath, type Command } from "../command.ts";
import { iecBytes } from "../format.ts";
import { printJson, printLines } from "../output.ts";

/** One change as a line: what happened, the path, and the size or kind that explains it. */
export function changeLine(c: Change): string {
  const what = c.change.padEnd(11);
  const bytes = (n: number | undefined): string => (n === undefined ? "?" : iecBytes(n));
  switch (c.change) {
    case "renamed":
      return `${what}  ${c.fromPath ?? "?"} -> ${c.path}`;
    case "added":
      return `${what}  ${c.path}${c.kind === "file" ? `  (${bytes(c.sizeAfter)})` : c.kind === "directory" ? "/" : ""}`;
    case "deleted":
      return `${what}  ${c.path}${c.kind === "directory" ? "/" : ""}`;
    case "modified":
      return `${what}  ${c.path}  (${bytes(c.sizeBefore)} -> ${bytes(c.sizeAfter)})`;
    case "typeChanged":
      return `${what}  ${c.path}  (now a ${c.kind})`;
    default:
      return `${what}  ${c.path}`;
  }
}

export const diff: Command = {
  name: "diff",
  summary: "list what changed between two commits",
  usage: "diff [--path P] FROM [TO]",
  details: `Lists the paths that differ between commit FROM and commit TO (default: the head), each as
added, modified, deleted, renamed (old -> new), typeChanged or modeChanged, sorted by path. A commit is a
seq (see log) or a checkpoint name. A renamed directory is one line (its contents are not repeated).
Read from the WAL records and snapshots only: no file contents are fetched. --path limits it to a
subtree. --json prints an array of {path, change, fromPath?, kind, sizeBefore?, sizeAfter?}.

Examples:
  s3-bun-cached-fs s3://bucket/team diff before-agent
  s3-bun-cached-fs s3://bucket/team diff 40 41 --path /docs`,
  options: {
    path: { type: "string", arg: "P", description: "only changes at or under workspace path P" },
  },
  async run(ctx) {
    expectArgs(ctx, "diff", 1, 2);
    const from = commitRef(ctx.args[0] ?? "");
    const to = ctx.args[1] === undefined ? undefined : commitRef(ctx.args[1]);
    const pathText = option(ctx.values, "path");
    const fs = await ctx.mount("readonly");
    const changes = await fs.diff(from, to, { path: pathText === undefined ? undefined : remotePath(pathText) });
    if (ctx.json) await printJson(changes);
    else await printLines(changes.length === 0 ? (ctx.quiet ? [] : ["no changes"]) : changes.map(changeLine));
    return 0;
  },
};

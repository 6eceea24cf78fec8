import { commitRef, expectArgs, flag, remotePath, type Command } from "../command.ts";
import { printJson, printLines } from "../output.ts";
import { changeLine } from "./diff.ts";

export const restore: Command = {
  name: "restore",
  summary: "make the tree (or some paths) what it was at a commit, as one new commit",
  usage: "restore [-n] AT [PATH...]",
  details: `Makes the whole tree, or just each PATH (a file or a directory, with everything under it), what
it was at commit AT (a seq from log, or a checkpoint name), as one new commit. The stored bytes are
reused: nothing is uploaded again. History is never rewritten: the commits after AT stay (log, diff,
--at), and a restore is undone by restoring the commit before it. A PATH that did not exist at AT is
removed. -n prints what the restore would change (as diff does) and changes nothing.
--json prints {at, paths, seq} (with -n: an array of changes, as diff --json).

restore mounts the workspace readwrite (the writer role): any other readwrite mount is fenced; -n
mounts it readonly.

Examples:
  s3-bun-cached-fs s3://bucket/team restore before-agent
  s3-bun-cached-fs s3://bucket/team restore 41 /docs /notes/plan.md`,
  options: {
    "dry-run": { type: "boolean", short: "n", description: "show what would change, change nothing" },
  },
  async run(ctx) {
    expectArgs(ctx, "restore", 1, Number.POSITIVE_INFINITY);
    const at = commitRef(ctx.args[0] ?? "");
    const paths = ctx.args.slice(1).map(remotePath);
    if (flag(ctx.values, "dry-run")) {
      const fs = await ctx.mount("readonly");
      const changes = [];
      for (const path of paths.length === 0 ? ["/"] : [...new Set(paths)]) changes.push(...(await fs.diff(fs.seq, at, { path })));
      if (ctx.json) await printJson(changes);
      else await printLines(changes.length === 0 ? (ctx.quiet ? [] : ["nothing to restore"]) : changes.map(changeLine));
      return 0;
    }
    const fs = await ctx.mount("readwrite");
    const r = await fs.restore(at, paths.length === 0 ? {} : { paths });
    if (ctx.json) await printJson({ at, paths: paths.length === 0 ? ["/"] : paths, seq: r.seq });
    else if (!ctx.quiet) await printLines([`restored ${paths.length === 0 ? "/" : paths.join(", ")} as at ${at}: commit ${r.seq}`]);
    return 0;
  },
};

import { dirname, join } from "node:path";
import { S3CachedFsManagerImpl } from "../../core.ts";
import { UsageError } from "../exit.ts";
import { AT_OPTION, atOption, expectArgs, type Command } from "../command.ts";
import { printJson, printLines } from "../output.ts";
import { cacheDirFor, describeAddress, type Address } from "../workspace.ts";

/** Where a fork at `prefix` of the workspace at `a` is: the same bucket, or a sibling directory. */
function forkAddress(a: Address, prefix: string): Address {
  return a.kind === "s3" ? { kind: "s3", bucket: a.bucket, prefix } : { kind: "local", dir: join(dirname(a.dir), prefix) };
}

export const fork: Command = {
  name: "fork",
  summary: "make a new workspace that starts as this one (no data copied)",
  usage: "fork [--at SEQ|NAME] PREFIX",
  details: `Creates a workspace at PREFIX of the same bucket (s3://BUCKET/PREFIX; for a local store
directory, the directory PREFIX beside it) whose first state is this workspace at its head, or at --at
(a seq from log, or a checkpoint name). No data is copied: the fork's snapshot points at this
workspace's objects, and a registration under this workspace's refs/forks/ makes its GC keep them,
however this workspace changes afterwards. From then on both evolve independently; use the fork like any
workspace. PREFIX must not hold a workspace already (EEXIST, exit 4). --json prints
{from, to, fromSeq, id}.

Examples:
  s3-bun-cached-fs s3://bucket/team fork team-try-1
  s3-bun-cached-fs ./ws fork --at before-agent ws-retry`,
  options: { at: AT_OPTION },
  async run(ctx) {
    expectArgs(ctx, "fork", 1, 1);
    const prefix = (ctx.args[0] ?? "").replace(/^\/+|\/+$/g, "");
    if (prefix === "") throw new UsageError("fork needs a PREFIX for the new workspace");
    const session = ctx.session();
    const store = await session.store();
    const from = describeAddress(session.address);
    const to = describeAddress(forkAddress(session.address, prefix));
    const manager = new S3CachedFsManagerImpl({ cacheRoot: cacheDirFor(store, session.options.cacheDir, session.options.env) });
    const r = await manager.fork({ from: { store, at: atOption(ctx.values) }, to: { prefix } });
    if (ctx.json) await printJson({ from, to, fromSeq: r.fromSeq, id: r.id });
    else if (!ctx.quiet) await printLines([`forked ${from} at seq ${r.fromSeq} to ${to}`]);
    return 0;
  },
};

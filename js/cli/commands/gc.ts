import { UsageError } from "../exit.ts";
import { flag, expectArgs, option, type Command } from "../command.ts";
import { duration, iecBytes, parseDuration } from "../format.ts";
import { printJson, printLines } from "../output.ts";

export const gc: Command = {
  name: "gc",
  summary: "delete objects no retained state uses (writer only)",
  usage: "gc [--dry-run] [--grace MS] [--keep-commits N] [--keep-for DURATION]",
  details: `Marks packs, chunks, WAL records and snapshots that nothing reachable uses, and deletes those
that have stayed unreachable for the grace period (default 10 minutes), so readers at an older commit
keep working meanwhile. Marks are kept in the local state, so a first run usually only marks and a
later run deletes; --grace 0 deletes at once. --dry-run lists what would be deleted.

History: GC always keeps the head and every checkpoint (just what rebuilds each). --keep-commits N also
keeps the last N commits readable (ls --at, diff, restore), --keep-for DURATION those of the last
DURATION (30m, 7d); by default no other history is kept.

gc mounts the workspace readwrite (the writer role): any other readwrite mount is fenced.
--json prints {scanned, reachable, pending, deleted, bytesFreed, deletedKeys, dryRun}.`,
  options: {
    "dry-run": { type: "boolean", short: "n", description: "report, delete nothing" },
    grace: { type: "string", arg: "MS", description: "grace period in ms, or with a unit: 30s, 10m, 1h (default 10m)" },
    "keep-commits": { type: "string", arg: "N", description: "keep the last N commits readable (default 0)" },
    "keep-for": { type: "string", arg: "DURATION", description: "keep the commits of the last DURATION readable: 30m, 7d" },
  },
  async run(ctx) {
    expectArgs(ctx, "gc", 0, 0);
    const graceText = option(ctx.values, "grace");
    const graceMs = graceText === undefined ? undefined : parseDuration(graceText);
    if (graceText !== undefined && graceMs === undefined) throw new UsageError(`--grace wants milliseconds (or 30s, 10m, 1h), not '${graceText}'`);
    const commitsText = option(ctx.values, "keep-commits");
    const commits = commitsText === undefined ? undefined : Number(commitsText);
    if (commits !== undefined && (!Number.isSafeInteger(commits) || commits < 0)) throw new UsageError(`--keep-commits wants a whole number, not '${commitsText}'`);
    const keepText = option(ctx.values, "keep-for");
    const ms = keepText === undefined ? undefined : parseDuration(keepText);
    if (keepText !== undefined && ms === undefined) throw new UsageError(`--keep-for wants a duration (30m, 12h, 7d), not '${keepText}'`);
    const dryRun = flag(ctx.values, "dry-run");
    const fs = await ctx.mount("readwrite");
    const r = await fs.gc({ graceMs, dryRun, keepHistory: { commits, ms } });
    if (ctx.json) {
      await printJson(r);
      return 0;
    }
    const lines = dryRun ? r.deletedKeys.map((k) => `would delete: ${k}`) : [];
    const verb = dryRun ? "would delete" : "deleted";
    lines.push(
      `gc: scanned ${r.scanned}, reachable ${r.reachable}, ${verb} ${r.deleted} (${iecBytes(r.bytesFreed)}), ${r.pending} pending (unreachable for less than ${duration(graceMs ?? 600_000)})`,
    );
    await printLines(lines);
    return 0;
  },
};

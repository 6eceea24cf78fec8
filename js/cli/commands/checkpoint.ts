import { UsageError } from "../exit.ts";
import { expectArgs, flag, option, type Command } from "../command.ts";
import { columns, shortTime } from "../format.ts";
import { printJson, printLines } from "../output.ts";

export const checkpoint: Command = {
  name: "checkpoint",
  summary: "name the current commit, so it stays readable (writer only)",
  usage: "checkpoint [-m MSG] NAME\ncheckpoint --delete NAME",
  details: `Names the workspace's current commit NAME (one small object, refs/checkpoints/NAME.json, written
create-only: a name already taken fails with EEXIST, exit 4). Garbage collection keeps whatever a
checkpoint needs until it is deleted, so ls/cat/tree/get --at NAME, diff and restore can always go back
to it. Names are 1-128 characters of A-Z a-z 0-9 . _ -, not starting with '.', and not digits only
(a number means a seq on this command line). --delete removes the name; GC may then reclaim what only
the checkpoint held. --json prints {name, seq, message?, timeMs, time}.

checkpoint mounts the workspace readwrite (the writer role): any other readwrite mount is fenced.

Examples:
  s3-bun-cached-fs s3://bucket/team checkpoint before-agent -m "known good"
  s3-bun-cached-fs s3://bucket/team checkpoint --delete before-agent`,
  options: {
    message: { type: "string", short: "m", arg: "MSG", description: "a note stored with the checkpoint" },
    delete: { type: "boolean", description: "delete the checkpoint NAME instead" },
  },
  async run(ctx) {
    expectArgs(ctx, "checkpoint", 1, 1);
    const name = ctx.args[0] ?? "";
    const message = option(ctx.values, "message");
    if (flag(ctx.values, "delete")) {
      if (message !== undefined) throw new UsageError("-m goes with making a checkpoint, not with --delete");
      const fs = await ctx.mount("readwrite");
      await fs.deleteCheckpoint(name);
      if (ctx.json) await printJson({ name, deleted: true });
      else if (!ctx.quiet) await printLines([`deleted checkpoint ${name}`]);
      return 0;
    }
    if (/^\d+$/.test(name)) throw new UsageError(`a checkpoint name of digits only ('${name}') would read as a seq; add a letter`);
    const fs = await ctx.mount("readwrite");
    const c = await fs.checkpoint(name, { message });
    if (ctx.json) await printJson({ ...c, time: new Date(c.timeMs).toISOString() });
    else if (!ctx.quiet) await printLines([`checkpoint ${c.name} at seq ${c.seq}`]);
    return 0;
  },
};

export const checkpoints: Command = {
  name: "checkpoints",
  summary: "list the checkpoints, oldest commit first",
  usage: "checkpoints",
  details: `One line per checkpoint: its name, the seq it names, when it was made and its message.
--json prints an array of {name, seq, message?, timeMs, time}.`,
  options: {},
  async run(ctx) {
    expectArgs(ctx, "checkpoints", 0, 0);
    const fs = await ctx.mount("readonly");
    const all = await fs.checkpoints();
    if (ctx.json) {
      await printJson(all.map((c) => ({ ...c, time: new Date(c.timeMs).toISOString() })));
      return 0;
    }
    const rows = [["NAME", "SEQ", "TIME", "MESSAGE"], ...all.map((c) => [c.name, String(c.seq), shortTime(c.timeMs), c.message ?? ""])];
    await printLines(all.length === 0 ? ["no checkpoints"] : columns(rows, new Set([1])));
    return 0;
  },
};

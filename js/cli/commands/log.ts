import { UsageError } from "../exit.ts";
import { expectArgs, option, type Command } from "../command.ts";
import { columns, iecBytes, shortTime } from "../format.ts";
import { printJson, printLines } from "../output.ts";

export const log: Command = {
  name: "log",
  summary: "show the commit history, newest first",
  usage: "log [-n N]",
  details: `One line per commit: its seq, time, the writer epoch that made it, how many entries it changed
(created, replaced, removed or re-attributed; a file written and given an mtime counts twice) and the
bytes of file data it wrote. History ends where garbage collection removed older records.
--json prints an array of {seq, epoch, timeMs, time, key, filesChanged, bytes}.`,
  options: {
    limit: { type: "string", short: "n", arg: "N", description: "at most N commits (default 20)" },
  },
  async run(ctx) {
    expectArgs(ctx, "log", 0, 0);
    const text = option(ctx.values, "limit") ?? "20";
    const limit = Number(text);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`-n wants a positive whole number, not '${text}'`);
    const fs = await ctx.mount("readonly");
    const entries = await fs.log({ limit });
    if (ctx.json) {
      await printJson(entries.map((e) => ({ ...e, time: new Date(e.timeMs).toISOString() })));
      return 0;
    }
    const rows = [["SEQ", "TIME", "EPOCH", "CHANGES", "BYTES"], ...entries.map((e) => [String(e.seq), shortTime(e.timeMs), String(e.epoch), String(e.filesChanged), iecBytes(e.bytes)])];
    await printLines(entries.length === 0 ? ["no commits yet"] : columns(rows, new Set([0, 2, 3, 4])));
    return 0;
  },
};

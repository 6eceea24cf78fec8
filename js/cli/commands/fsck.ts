import { EXIT } from "../exit.ts";
import { expectArgs, type Command } from "../command.ts";
import { iecBytes } from "../format.ts";
import { printJson, printLines } from "../output.ts";

export const fsck: Command = {
  name: "fsck",
  summary: "check that every object the workspace references exists and matches its hashes",
  usage: "fsck",
  details: `Fetches every pack and chunk the namespace references and checks every file extent against
its hash; lists what is missing or corrupt. Reads everything once: on a large workspace this moves as
many bytes as the workspace holds. Exit code 0 when all is well, 8 when anything is missing or
corrupt; -q prints nothing. --json prints {objects, extents, bytesChecked, missing, corrupt, ok, seq}.`,
  options: {},
  async run(ctx) {
    expectArgs(ctx, "fsck", 0, 0);
    const fs = await ctx.mount("readonly");
    const r = await fs.fsck();
    const code = r.ok ? EXIT.OK : EXIT.FSCK_DAMAGED;
    if (ctx.json) {
      await printJson({ ...r, seq: fs.seq });
      return code;
    }
    if (ctx.quiet) return code;
    const lines = [...r.missing.map((k) => `missing: ${k}`), ...r.corrupt.map((k) => `corrupt: ${k}`)];
    const counts = `${r.objects} objects, ${r.extents} extents, ${iecBytes(r.bytesChecked)} checked at seq ${fs.seq}`;
    lines.push(r.ok ? `fsck: ok: ${counts}` : `fsck: DAMAGED: ${r.missing.length} missing, ${r.corrupt.length} corrupt; ${counts}`);
    await printLines(lines);
    return code;
  },
};

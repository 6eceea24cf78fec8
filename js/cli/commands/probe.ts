import { EXIT } from "../exit.ts";
import { expectArgs, type Command } from "../command.ts";
import { printJson, printLines } from "../output.ts";
import { describeAddress } from "../workspace.ts";

export const probe: Command = {
  name: "probe",
  summary: "check that the store enforces conditional writes (If-None-Match, If-Match)",
  usage: "probe",
  details: `Runs the conditional-write probe a readwrite mount runs before it writes: create-only PUT twice
(the second must be refused), replace-if PUT with a stale ETag (refused) and the current one
(accepted), and a race of create-only PUTs (exactly one winner). It writes and deletes a few scratch
objects under <prefix>/_probe/ and does not mount the workspace. Exit code 0 when the store is
compliant (readwrite mounts are safe), 9 when it is not (only readonly mounts are allowed); with -q
it prints nothing, for scripts: if s3-bun-cached-fs probe -q; then ...
--json prints {createOnlyEnforced, staleReplaceRefused, currentReplaceAccepted,
createRaceSingleWinner, raceWinners, compliant, findings}.`,
  options: {},
  async run(ctx) {
    expectArgs(ctx, "probe", 0, 0);
    const session = ctx.session();
    const store = (await session.store()).withRetry();
    const r = await store.probe();
    const code = r.compliant ? EXIT.OK : EXIT.PROBE_NONCOMPLIANT;
    if (ctx.json) {
      await printJson(r);
      return code;
    }
    if (ctx.quiet) return code;
    const yes = (b: boolean) => (b ? "yes" : "NO");
    const lines = [
      `probe ${describeAddress(session.address)}`,
      `  create-only PUT (If-None-Match: *) enforced   ${yes(r.createOnlyEnforced)}`,
      `  stale replace (If-Match) refused              ${yes(r.staleReplaceRefused)}`,
      `  current replace (If-Match) accepted           ${yes(r.currentReplaceAccepted)}`,
      `  concurrent creates: a single winner           ${yes(r.createRaceSingleWinner)} (${r.raceWinners} won)`,
      ...r.findings.map((f) => `  finding: ${f}`),
      r.compliant ? "probe: compliant: readwrite mounts are safe on this store" : "probe: NOT compliant: this store ignores conditional writes; mount it readonly only",
    ];
    await printLines(lines);
    return code;
  },
};

// The shape of one measure and what it hands back.
import type { BenchContext } from "./context.ts";
import type { Row, Verdict } from "./report.ts";

export interface MeasureOut {
  rows: Row[];
  notes: string[];
  data: Record<string, unknown>;
}

export interface Measure {
  id: string;
  title: string;
  run(ctx: BenchContext, out: MeasureOut): Promise<void>;
}

/** Thrown by a measure that cannot run yet (e.g. an adapter not written): reported, not a crash. */
export class Pending extends Error {
  override name = "Pending";
}

export const verdict = (ok: boolean): Verdict => (ok ? "yes" : "no");

/** The failed parts of a list of checks, for `holdsDetail`. */
export function missed(checks: [ok: boolean, what: string][]): { holds: Verdict; holdsDetail?: string } {
  const bad = checks.filter(([ok]) => !ok).map(([, what]) => what);
  return bad.length === 0 ? { holds: "yes" } : { holds: "no", holdsDetail: `missed: ${bad.join("; ")}` };
}

// Shared by the demos: each prints what it did and verifies it, failing loudly when it does not hold.
import type { RequestCounts } from "../js/core.ts";

export interface DemoOptions {
  log?: (line: string) => void;
}

export function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`demo check failed: ${what}`);
}

/** "1 GET, 0 PUTs, 0 LISTs" (HEAD and DELETE are named only when there were any). */
export function describeRequests(r: RequestCounts): string {
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? "" : "s"}`;
  const parts = [n(r.get, "GET"), n(r.put, "PUT"), n(r.list, "LIST")];
  if (r.head > 0) parts.push(n(r.head, "HEAD"));
  if (r.delete + r.deleteMany > 0) parts.push(n(r.delete + r.deleteMany, "DELETE"));
  return parts.join(", ");
}

// Shared by the demos: each prints what it did and verifies it, failing loudly when it does not hold.
export interface DemoOptions {
  log?: (line: string) => void;
}

export function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`demo check failed: ${what}`);
}

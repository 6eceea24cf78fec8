// demo:all — every demo in sequence, each under its own header; exits non-zero if any of them fails.
import { runCoreDemo } from "./core.ts";
import { runFlueDemo } from "./flue.ts";
import { runJustBashDemo } from "./just-bash.ts";
import { runMastraDemo } from "./mastra.ts";
import type { DemoOptions } from "./util.ts";

export interface Demo {
  name: string;
  run(options: DemoOptions): Promise<void>;
}

export interface DemoResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: unknown;
}

export const DEMOS: readonly Demo[] = [
  { name: "core", run: runCoreDemo },
  { name: "mastra", run: runMastraDemo },
  { name: "just-bash", run: runJustBashDemo },
  { name: "flue", run: runFlueDemo },
];

/** Runs `demos` one after another (a failure does not stop the rest) and prints a summary line. */
export async function runDemos(demos: readonly Demo[] = DEMOS, { log = console.log }: DemoOptions = {}): Promise<DemoResult[]> {
  const results: DemoResult[] = [];
  for (const demo of demos) {
    log(`\n=== demo:${demo.name} ===`);
    const t0 = performance.now();
    try {
      await demo.run({ log });
      results.push({ name: demo.name, ok: true, ms: performance.now() - t0 });
    } catch (error) {
      results.push({ name: demo.name, ok: false, ms: performance.now() - t0, error });
      log(`demo:${demo.name} FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
  const failed = results.filter((r) => !r.ok).map((r) => r.name);
  const timing = results.map((r) => `${r.name} ${(r.ms / 1000).toFixed(2)} s`).join(", ");
  log(`\ndemo:all: ${results.length - failed.length} of ${results.length} passed (${timing})${failed.length > 0 ? `; FAILED: ${failed.join(", ")}` : ""}`);
  return results;
}

if (import.meta.main) {
  const results = await runDemos();
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

// The demos are part of the product: each runs here with its output captured, and must finish, print its
// OK line and leave no temp directory behind. demo:all's runner keeps going past a failing demo and reports it.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { DEMOS, runDemos, type Demo } from "../demos/all.ts";

/** The temp directory a demo worked in, from the `LocalObjectStore(<dir>/bucket)` it prints. */
function workDirOf(lines: string[]): string | undefined {
  for (const line of lines) {
    const m = /LocalObjectStore\((\/[^)]+)\)/.exec(line);
    if (m?.[1] !== undefined) return dirname(m[1]);
  }
  return undefined;
}

describe("demos", () => {
  test("demo:all runs the four demos: core, mastra, just-bash, flue", () => {
    expect(DEMOS.map((d) => d.name)).toEqual(["core", "mastra", "just-bash", "flue"]);
  });

  for (const demo of DEMOS) {
    test(`demo:${demo.name} finishes, verifies itself and prints its OK line`, async () => {
      const lines: string[] = [];
      await demo.run({ log: (line) => lines.push(line) });
      expect(lines.length).toBeGreaterThan(3);
      expect(lines[lines.length - 1]).toBe(`demo:${demo.name} OK`);
      expect(lines.filter((l) => l.includes("FAILED") || l.includes("demo check failed"))).toEqual([]);
      // It worked in a temp directory and removed it.
      const dir = workDirOf(lines);
      expect(dir).toMatch(/s3fs-demo-/);
      expect(existsSync(dir as string)).toBe(false);
    }, 60_000);
  }

  test("the demo:all runner reports a failing demo and still runs the rest", async () => {
    const ran: string[] = [];
    const demos: Demo[] = [
      {
        name: "broken",
        run: async () => {
          ran.push("broken");
          throw new Error("demo check failed: on purpose");
        },
      },
      {
        name: "fine",
        run: async ({ log }) => {
          ran.push("fine");
          log?.("demo:fine OK");
        },
      },
    ];
    const lines: string[] = [];
    const results = await runDemos(demos, { log: (line) => lines.push(line) });
    expect(ran).toEqual(["broken", "fine"]);
    expect(results.map((r) => [r.name, r.ok])).toEqual([
      ["broken", false],
      ["fine", true],
    ]);
    expect(lines).toContain("\n=== demo:broken ===");
    expect(lines.some((l) => l.startsWith("demo:broken FAILED: Error: demo check failed: on purpose"))).toBe(true);
    expect(lines[lines.length - 1]).toStartWith("\ndemo:all: 1 of 2 passed (");
    expect(lines[lines.length - 1]).toEndWith("; FAILED: broken");
  });
});

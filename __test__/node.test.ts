// Node support (issue 14): the compiled package (dist/) under Node — the machine's (>= 20) and Node 22 from
// the npm registry — against LocalObjectStore and SeaweedFS: core, the Mastra adapter, the just-bash shell
// and the Flue sandbox (__test__/node/smoke.mjs). dist/ is rebuilt first when js/ is newer.
import { expect, test } from "bun:test";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { nodeBinaries } from "./helpers/node.ts";
import { s3TestServers } from "./helpers/servers.ts";

const repoRoot = resolve(import.meta.dir, "..");

/** Whether dist/ is missing or older than a source file under js/. */
function distIsStale(): boolean {
  const built = join(repoRoot, "dist", "index.js");
  if (!existsSync(built)) return true;
  const builtAt = statSync(built).mtimeMs;
  return readdirSync(join(repoRoot, "js"), { recursive: true, withFileTypes: true }).some((e) => e.isFile() && statSync(join(e.parentPath, e.name)).mtimeMs > builtAt);
}

test("on Node: core, Mastra, just-bash and Flue work from the compiled package, on LocalObjectStore and SeaweedFS", async () => {
  if (distIsStale()) {
    const build = Bun.spawnSync(["node", join(repoRoot, "scripts", "build-js.mjs")], { cwd: repoRoot });
    expect(`${build.exitCode} ${build.stderr.toString()}`).toBe("0 ");
  }
  const nodes = await nodeBinaries();
  expect(nodes.length).toBeGreaterThanOrEqual(1);
  const seaweed = s3TestServers().some((s) => s.name === "seaweedfs");
  for (const node of nodes) {
    const child = Bun.spawn([node.path, join(import.meta.dir, "node", "smoke.mjs")], { cwd: repoRoot, env: process.env, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(`${node.version}: exit ${code} ${err}`).toBe(`${node.version}: exit 0 `);
    const report = JSON.parse(out.trim().split("\n").pop() ?? "{}") as { ok: string[]; skipped: string[] };
    const stores = ["LocalObjectStore", ...(seaweed ? ["seaweedfs"] : [])];
    const expected = stores.flatMap((s) => ["core", "mastra", "just-bash", "flue"].map((part) => `${part} on ${s}`));
    expect({ node: node.version, ok: report.ok, skipped: report.skipped }).toEqual({ node: node.version, ok: expected, skipped: [] });
  }
}, 300_000);

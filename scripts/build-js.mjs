// `npm run build:js` (part of `npm run build`, and `prepack`): compiles js/*.ts into dist/ as ESM .js plus
// .d.ts (tsconfig.build.json), for Node and for TypeScript users; Bun runs js/*.ts itself. Plain Node, so it
// runs before anything else is built.
//
// The adapters' declarations name types of their optional peers (just-bash, @flue/runtime, @mastra/core).
// Each line that imports one gets a `// @ts-ignore` above it: an app without the peer then typechecks (those
// types are `any`), and an app with it gets the precise types.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const RELATIVE_TS = /((?:\bfrom\s*|\bimport\s*\(\s*)["'])(\.{1,2}\/[^"']+)\.ts(["'])/g;
const OPTIONAL_PEER = /(?:\bfrom\s*|\bimport\s*\(\s*)["'](just-bash|@flue\/runtime|@mastra\/[^"']+|bun)["']/;

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(join(root, "package.json")).resolve("typescript/bin/tsc");
try {
  execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
} catch {
  // tsc has printed the errors (and emitted anyway). `--allow-type-errors`: keep that output (development only).
  if (!process.argv.includes("--allow-type-errors")) {
    console.error("build:js: tsc reported type errors (above); dist/ is incomplete");
    process.exit(1);
  }
}

// dist/ is ESM; the package root stays CommonJS for the napi loader (index.js).
writeFileSync(join(dist, "package.json"), `${JSON.stringify({ type: "module" }, null, 2)}\n`);

let marked = 0;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith(".d.ts")) continue;
  const file = join(entry.parentPath, entry.name);
  const lines = readFileSync(file, "utf8").split("\n");
  const out = [];
  for (let line of lines) {
    // Relative imports name the compiled files, as in the .js (tsc keeps `.ts` in declarations).
    line = line.replace(RELATIVE_TS, "$1$2.js$3");
    if (OPTIONAL_PEER.test(line) && !/^\s*(\/\/|\/\*|\*)/.test(line)) {
      out.push("// @ts-ignore -- an optional peer: without it installed, its types here are `any`");
      marked++;
    }
    out.push(line);
  }
  writeFileSync(file, out.join("\n"));
}
console.log(`dist/: compiled js/ (${marked} optional-peer type import${marked === 1 ? "" : "s"} made optional)`);

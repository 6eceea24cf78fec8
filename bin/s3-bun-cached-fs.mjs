#!/usr/bin/env node
// `npx s3-bun-cached-fs` / `bunx s3-bun-cached-fs`: the command line (docs/cli.md). Needs no global Bun:
// Node (>= 20) runs the compiled CLI in dist/ (`npm run build` makes it), Bun runs the TypeScript sources.
const { main } = await import(process.versions.bun === undefined ? "../dist/cli/main.js" : "../js/cli/main.ts");
process.exit(await main(process.argv.slice(2)));

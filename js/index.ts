// s3-bun-cached-fs: every surface. Importing this loads no framework; the adapters load theirs lazily.
export * from "./core.ts";
export * from "./mastra.ts";
export * from "./just-bash.ts";
export * from "./flue.ts";

// s3-bun-cached-fs/core: the engine's public surface. Loads no framework.
export * from "./store.ts";

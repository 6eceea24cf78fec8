// The Mastra adapter and the just-bash shell, loaded at run time so the benchmark builds (and reports
// "pending: adapter missing") while either file is not there yet. Only what the benchmark calls is typed.
import { join } from "node:path";
import type { CachedFs } from "../../js/core.ts";

export interface MastraAdapterModule {
  AcceleratedFS: new (options: { id: string; fs: CachedFs; errors?: unknown }) => { walk?(path: string): Promise<unknown[]> };
}

export interface BenchShell {
  exec(script: string): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /** The shell's filesystem: calls made through it outside an exec. */
  fs: { writeFile(path: string, content: string): Promise<void> };
}

export interface ShellModule {
  createAcceleratedJustBashShell(options: { filesystem: CachedFs; cwd?: string }): Promise<BenchShell>;
}

async function load(file: string): Promise<unknown> {
  const spec = join(import.meta.dir, "..", "..", "js", file);
  try {
    return await import(spec);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const msg = e instanceof Error ? e.message : String(e);
    if (code === "ERR_MODULE_NOT_FOUND" || /Cannot find module|not found/i.test(msg)) return undefined;
    throw e;
  }
}

export async function loadMastraAdapter(): Promise<MastraAdapterModule | undefined> {
  const m = (await load("mastra.ts")) as Partial<MastraAdapterModule> | undefined;
  return typeof m?.AcceleratedFS === "function" ? (m as MastraAdapterModule) : undefined;
}

export async function loadShell(): Promise<ShellModule | undefined> {
  const m = (await load("just-bash.ts")) as Partial<ShellModule> | undefined;
  return typeof m?.createAcceleratedJustBashShell === "function" ? (m as ShellModule) : undefined;
}

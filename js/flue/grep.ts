// Flue's grep tool, made to work on just-bash.
import type { Sandbox, SandboxToolFactory } from "@flue/runtime";

type FlueRuntime = typeof import("@flue/runtime");
type AgentTool = ReturnType<SandboxToolFactory>[number];

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

const MAX_GREP_MATCHES = 100;
const MAX_GREP_LINE = 500;

interface GrepParams {
  pattern: string;
  path?: string;
  include?: string;
  literal?: boolean;
}

function grepParams(params: unknown): GrepParams {
  const p = (typeof params === "object" && params !== null ? params : {}) as Record<string, unknown>;
  if (typeof p.pattern !== "string") throw new Error("grep: pattern must be a string");
  const optional = (key: string): string | undefined => (typeof p[key] === "string" && p[key] !== "" ? (p[key] as string) : undefined);
  return { pattern: p.pattern, path: optional("path"), include: optional("include"), literal: p.literal === true };
}

/**
 * Flue's grep tool, made to work on just-bash: Flue probes `rg --version` and falls back to
 * `grep -rnH`, neither of which just-bash 3.4 accepts. `grep -rn` there already names the file.
 */
export function grepTool(flue: FlueRuntime, sandbox: Sandbox): AgentTool {
  const base = flue.createGrepTool(sandbox);
  return {
    ...base,
    async execute(_toolCallId: string, raw: unknown, signal?: AbortSignal) {
      if (signal?.aborted === true) throw new Error("Operation aborted");
      const params = grepParams(raw);
      const cmd = `grep -rn ${params.literal === true ? "-F" : "-E"}${params.include !== undefined ? ` --include=${shellQuote(params.include)}` : ""} -- ${shellQuote(params.pattern)} ${shellQuote(params.path ?? ".")}`;
      const result = await sandbox.exec(cmd, { signal });
      if (result.exitCode === 1 && result.stdout.trim() === "") {
        return { content: [{ type: "text" as const, text: "No matches found." }], details: { matchCount: 0 } };
      }
      if (result.exitCode > 1) throw new Error(`grep failed: ${result.stderr}`);
      const lines = result.stdout.trim().split("\n");
      let text = lines
        .slice(0, MAX_GREP_MATCHES)
        .map((line) => (line.length > MAX_GREP_LINE ? `${line.slice(0, MAX_GREP_LINE)}...` : line))
        .join("\n");
      if (lines.length > MAX_GREP_MATCHES) text += `\n\n[Showing ${MAX_GREP_MATCHES} of ${lines.length} matches. Narrow your search.]`;
      return { content: [{ type: "text" as const, text }], details: { matchCount: Math.min(lines.length, MAX_GREP_MATCHES) } };
    },
  };
}

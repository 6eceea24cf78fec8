// What a command is: its help, its options (node:util parseArgs shapes) and its run function.
import { posix } from "node:path";
import type { CachedFs } from "../core.ts";
import { UsageError } from "./exit.ts";
import type { ProgressMode } from "./progress.ts";
import type { Session } from "./workspace.ts";

export interface OptionSpec {
  type: "boolean" | "string";
  short?: string;
  /** The value's name in help (`--grace MS`). */
  arg?: string;
  description: string;
}

export type OptionValues = Record<string, string | boolean | undefined>;

/** What every command gets. */
export interface Context {
  /** The command being run (its usage names the positional arguments in messages). */
  command?: Command;
  /** Positional arguments after the command name. */
  args: string[];
  values: OptionValues;
  json: boolean;
  quiet: boolean;
  progress: ProgressMode;
  /** The workspace; throws a usage error when none was given. */
  session(): Session;
  mount(mode: "readonly" | "readwrite"): Promise<CachedFs>;
}

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** `ls [-l] [-R] [PATH]` */
  usage: string;
  /** More help: what it does, examples. */
  details: string;
  options: Record<string, OptionSpec>;
  run(ctx: Context): Promise<number>;
}

export function flag(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

export function option(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** The positional arguments a usage line names: `put [-p] LOCAL PATH` → LOCAL, PATH; `[PATH]`, `PATH...` → PATH. */
export function positionalNames(usageLine: string): string[] {
  return usageLine
    .replace(/\[-[^\]]*\]|\([^)]*\)/g, " ")
    .trim()
    .split(/\s+/)
    .slice(1)
    .map((t) => t.replace(/^\[|\]$|\.\.\.$/g, ""))
    .filter((t) => t !== "");
}

/** Checks the number of positional arguments; a missing one is named after the command's usage. */
export function expectArgs(ctx: Context, cmd: string, min: number, max: number): void {
  if (ctx.args.length < min) {
    const lines = ctx.command?.usage.split("\n") ?? [];
    const names = [...new Set(lines.map((l) => positionalNames(l)[ctx.args.length]).filter((n) => n !== undefined))];
    throw new UsageError(`missing argument${names.length === 0 ? "" : ` ${names.join(" or ")}`} (see s3-bun-cached-fs ${cmd} --help)`);
  }
  if (ctx.args.length > max) throw new UsageError(`too many arguments: ${ctx.args.slice(max).join(" ")}`);
}

/** Whether an argument is marked as a workspace path (`:/docs`). */
export function isRemoteMarked(arg: string): boolean {
  return arg.startsWith(":");
}

/** A workspace path: the optional leading `:` dropped, made absolute and normalized (`docs/../a` → `/a`). */
export function remotePath(arg: string): string {
  const p = isRemoteMarked(arg) ? arg.slice(1) : arg;
  return posix.resolve("/", p === "" ? "/" : p);
}

/** `--at SEQ|NAME` of the reading commands: open the workspace as it was at that commit (readonly). */
export const AT_OPTION: OptionSpec = { type: "string", arg: "SEQ|NAME", description: "the workspace as it was at this commit: a seq, or a checkpoint name" };

/** A commit named on the command line: digits are a seq, anything else a checkpoint name. */
export function commitRef(text: string): number | string {
  if (text === "") throw new UsageError("a commit is a seq (digits) or a checkpoint name, not ''");
  return /^\d+$/.test(text) ? Number(text) : text;
}

/** The `--at` value of a command that has the option, as a commit; undefined without it. */
export function atOption(values: OptionValues): number | string | undefined {
  const at = option(values, "at");
  return at === undefined ? undefined : commitRef(at);
}

// The command line: finds the command and the workspace, parses options (node:util parseArgs), runs
// the command and turns errors into one-line messages and exit codes.
import { createRequire } from "node:module";
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { CachedFs, ObjectStore } from "../core.ts";
import type { Command, Context, OptionSpec, OptionValues } from "./command.ts";
import { atOption } from "./command.ts";
import { findCommand } from "./commands/index.ts";
import { EXIT, UsageError, errorJson, errorLine, exitCodeOf } from "./exit.ts";
import { parseSize } from "./format.ts";
import { commandHelp, overviewHelp } from "./help.ts";
import { writeStderr, writeStdout } from "./output.ts";
import { stopAllProgress, type ProgressMode } from "./progress.ts";
import { Session, parseAddress } from "./workspace.ts";

/** The package's own package.json (two levels up from js/cli/ and from the compiled dist/cli/ alike). */
const pkg = createRequire(import.meta.url)("../../package.json") as { version: string };

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  workspace: { type: "string", short: "w", arg: "ADDR", description: "s3://BUCKET[/PREFIX] or a local store directory" },
  "cache-dir": { type: "string", arg: "DIR", description: "local state directory" },
  "cache-bytes": { type: "string", arg: "SIZE", description: "block cache bound" },
  endpoint: { type: "string", arg: "URL", description: "S3 endpoint" },
  region: { type: "string", arg: "NAME", description: "S3 region" },
  "path-style": { type: "boolean", description: "path-style S3 URLs" },
  json: { type: "boolean", description: "JSON output" },
  quiet: { type: "boolean", short: "q", description: "no summaries, no progress" },
  progress: { type: "boolean", description: "progress bar on/off" },
  help: { type: "boolean", description: "help" },
  version: { type: "boolean", description: "version" },
};

/** Global options that take a value (so the pre-scan skips the value). */
const VALUE_FLAGS = new Set(
  Object.entries(GLOBAL_OPTIONS)
    .filter(([, o]) => o.type === "string")
    .flatMap(([name, o]) => [`--${name}`, ...(o.short === undefined ? [] : [`-${o.short}`])]),
);

interface Located {
  command?: Command;
  /** `help COMMAND`. */
  helpFor?: Command;
  workspaceArg?: string;
  rest: string[];
}

/** Finds the command name and an optional workspace positional before it; the rest is left to parseArgs. */
function locate(argv: string[]): Located {
  let wsIndex: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i] ?? "";
    if (t === "--") break;
    if (t.startsWith("-") && t !== "-") {
      if (VALUE_FLAGS.has(t)) i++;
      continue;
    }
    const rest = argv.filter((_, j) => j !== i && j !== wsIndex);
    const workspaceArg = wsIndex === undefined ? undefined : argv[wsIndex];
    if (t === "help") {
      const name = rest.find((a) => !a.startsWith("-"));
      const helpFor = name === undefined ? undefined : findCommand(name);
      if (name !== undefined && helpFor === undefined) throw new UsageError(`unknown command '${name}' (see --help)`);
      return { helpFor, rest: helpFor === undefined ? ["--help"] : rest.filter((a) => a !== name), workspaceArg };
    }
    const command = findCommand(t);
    if (command !== undefined) return { command, workspaceArg, rest };
    if (wsIndex !== undefined) throw new UsageError(`unknown command '${t}' (see --help)`);
    wsIndex = i;
  }
  const lone = wsIndex === undefined ? undefined : argv[wsIndex];
  if (lone !== undefined && !lone.includes("/") && !lone.includes(".")) throw new UsageError(`unknown command '${lone}' (see --help)`);
  return { rest: argv.filter((_, j) => j !== wsIndex), workspaceArg: lone };
}

function parseConfig(cmd: Command | undefined): { options: NonNullable<ParseArgsConfig["options"]>; helpShort: boolean } {
  const specs: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS, ...(cmd?.options ?? {}) };
  const helpShort = !Object.values(specs).some((o) => o.short === "h");
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, o] of Object.entries(specs)) options[name] = o.short === undefined ? { type: o.type } : { type: o.type, short: o.short };
  if (helpShort) options.help = { type: "boolean", short: "h" };
  return { options, helpShort };
}

function parse(cmd: Command | undefined, args: string[]): { values: OptionValues; positionals: string[]; helpShort: boolean } {
  const { options, helpShort } = parseConfig(cmd);
  try {
    const r = parseArgs({ args, options, allowPositionals: true, allowNegative: true, strict: true });
    const values: OptionValues = {};
    for (const [k, v] of Object.entries(r.values)) if (typeof v === "string" || typeof v === "boolean") values[k] = v;
    return { values, positionals: r.positionals, helpShort };
  } catch (e) {
    // Node's wording goes on about '--'; the first sentence is the message.
    throw new UsageError((e instanceof Error ? e.message : String(e)).replace(/\. To specify a positional argument[^]*$/, ""));
  }
}

/** The commands that may make a new store in a local directory (their readwrite mounts do; sync down is readonly). */
const CREATES_STORE = new Set(["put", "sync"]);

const str = (v: OptionValues, k: string): string | undefined => (typeof v[k] === "string" ? (v[k] as string) : undefined);

function progressMode(values: OptionValues, json: boolean, quiet: boolean): ProgressMode {
  if (values.progress === true) return "on";
  if (values.progress === false || json || quiet) return "off";
  return "auto";
}

export interface MainOptions {
  env?: Record<string, string | undefined>;
  /** @internal Tests: the store to use instead of the one the workspace address names. */
  store?: ObjectStore;
}

/** Runs the CLI; resolves to the exit code (the caller exits with it). */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  let json = argv.includes("--json");
  let session: Session | undefined;
  let commandName = "";
  const onSigint = () => {
    stopAllProgress();
    writeStderr(`s3-bun-cached-fs${commandName === "" ? "" : `: ${commandName}`}: interrupted${commandName === "sync" || commandName === "put" ? "; nothing unfinished was committed" : ""}\n`);
    process.exit(EXIT.INTERRUPTED);
  };
  process.on("SIGINT", onSigint);
  try {
    if (argv.length === 0) {
      writeStderr(`${overviewHelp(pkg.version)}\n`);
      return EXIT.USAGE;
    }
    const found = locate(argv);
    const cmd = found.command ?? found.helpFor;
    commandName = cmd?.name ?? "";
    const { values, positionals, helpShort } = parse(cmd, found.rest);
    json = values.json === true;
    if (values.version === true) {
      await writeStdout(`${pkg.version}\n`);
      return EXIT.OK;
    }
    if (cmd === undefined) {
      if (values.help !== true) throw new UsageError("missing command (see --help)");
      await writeStdout(`${overviewHelp(pkg.version)}\n`);
      return EXIT.OK;
    }
    if (values.help === true || found.helpFor !== undefined) {
      await writeStdout(`${commandHelp(cmd, helpShort)}\n`);
      return EXIT.OK;
    }
    const flagWorkspace = str(values, "workspace");
    if (flagWorkspace !== undefined && found.workspaceArg !== undefined) throw new UsageError("the workspace is given twice (-w and before the command)");
    const address = flagWorkspace ?? found.workspaceArg ?? env.S3FS_WORKSPACE;
    const cacheBytesText = str(values, "cache-bytes") ?? "1G";
    const cacheBytes = parseSize(cacheBytesText);
    if (cacheBytes === undefined || cacheBytes < 1 << 20) throw new UsageError(`--cache-bytes wants a size of at least 1M (512M, 4G), not '${cacheBytesText}'`);
    const quiet = values.quiet === true;
    const getSession = (): Session => {
      if (address === undefined || address === "") {
        throw new UsageError(`no workspace: pass -w s3://BUCKET/PREFIX (or a local store directory), put it before the command, or set S3FS_WORKSPACE`);
      }
      session ??= new Session({
        address: parseAddress(address),
        cacheDir: str(values, "cache-dir"),
        cacheBytes,
        endpoint: str(values, "endpoint"),
        region: str(values, "region"),
        pathStyle: typeof values["path-style"] === "boolean" ? values["path-style"] : undefined,
        env,
        store: options.store,
        createsStore: CREATES_STORE.has(cmd.name),
      });
      return session;
    };
    // Every command works on a workspace: a bad address fails before anything else.
    getSession();
    const ctx: Context = {
      command: cmd,
      args: positionals,
      values,
      json,
      quiet,
      progress: progressMode(values, json, quiet),
      session: getSession,
      // `--at` (ls, cat, tree, get): readonly, as the workspace was at that commit.
      mount: (mode): Promise<CachedFs> => getSession().mount(mode, atOption(values)),
    };
    return await cmd.run(ctx);
  } catch (e) {
    stopAllProgress();
    // The reader of stdout went away (`... cat /big | head`): stop quietly, as a SIGPIPE would.
    if (e instanceof Error && (e as NodeJS.ErrnoException).code === "EPIPE") return EXIT.BROKEN_PIPE;
    const code = exitCodeOf(e);
    if (json) writeStderr(`${JSON.stringify(errorJson(e, code))}\n`);
    else writeStderr(`s3-bun-cached-fs: ${commandName === "" ? "" : `${commandName}: `}${errorLine(e)}\n`);
    if (env.S3FS_DEBUG === "1" && e instanceof Error && e.stack !== undefined) writeStderr(`${e.stack}\n`);
    return code;
  } finally {
    process.removeListener("SIGINT", onSigint);
    await session?.close().catch(() => {});
  }
}

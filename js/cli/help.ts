// --help texts: the overview and one page per command.
import type { Command, OptionSpec } from "./command.ts";
import { COMMANDS } from "./commands/index.ts";
import { EXIT_HELP } from "./exit.ts";

const BIN = "s3-bun-cached-fs";

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flags = `${o.short === undefined ? "    " : `-${o.short}, `}--${name}${o.arg === undefined ? "" : ` ${o.arg}`}`;
    return [flags, o.description];
  });
  const width = Math.max(0, ...rows.map(([f]) => (f ?? "").length));
  return rows.map(([f = "", d = ""]) => `  ${f.padEnd(width)}  ${d}`);
}

export function overviewHelp(version: string): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `${BIN} ${version}: files in an s3-bun-cached-fs workspace, from the shell.

Usage:
  ${BIN} [WORKSPACE] COMMAND [options] [args]
  ${BIN} COMMAND -w WORKSPACE [options] [args]
  ${BIN} COMMAND --help

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

The workspace (first found wins):
  -w, --workspace ADDR   s3://BUCKET[/PREFIX], or a local store directory (LocalObjectStore)
  WORKSPACE              the same, as the first argument before the command
  $S3FS_WORKSPACE        the same, from the environment

Paths inside the workspace are absolute (/docs/a.md; a relative one is taken from /). A leading ':'
marks a workspace path (:/docs); it is optional except in sync, where it tells the direction:
  ${BIN} s3://b/team sync ./site :/site    upload ./site to /site (one commit)
  ${BIN} s3://b/team sync :/site ./site    download /site to ./site

S3 settings (flags win over the standard AWS environment):
  --endpoint URL         default $AWS_ENDPOINT_URL_S3, then $AWS_ENDPOINT_URL, then AWS
  --region NAME          default $AWS_REGION / AWS config, then us-east-1
  --[no-]path-style      path-style URLs (default: on when an endpoint is set)
  credentials            the standard AWS chain: $AWS_ACCESS_KEY_ID + $AWS_SECRET_ACCESS_KEY
                         (+ $AWS_SESSION_TOKEN), $AWS_PROFILE and ~/.aws, web identity, ECS/EC2 roles

Local state (disposable: the namespace database and block cache):
  --cache-dir DIR        default $XDG_CACHE_HOME/s3-bun-cached-fs/cli/<hash of the workspace address>
                         (~/.cache/s3-bun-cached-fs/cli/<hash> without XDG_CACHE_HOME)
  --cache-bytes SIZE     bound of the block cache, e.g. 512M, 4G (default 1G)

Output:
  --json                 machine-readable results on stdout; errors as {"error": ...} on stderr
  -q, --quiet            no summary lines and no progress
  --[no-]progress        progress bar on stderr: forced on or off (default: on when stderr is a terminal)
  --help                 help (-h too, except in ls and du where -h means human-readable sizes)
  --version              print the version

Reading commands (ls cat stat du tree get log diff checkpoints fsck, sync downloads) mount the
workspace readonly and never write to the bucket; ls, cat, tree and get take --at SEQ|NAME to read it
as it was at an earlier commit. put, sync uploads, checkpoint, restore and gc mount it readwrite: they
take the writer role, fencing any other readwrite mount (its next commit fails with EFENCED), and need
a store that enforces conditional writes (see probe). fork writes the new workspace and a registration
in this one without mounting it.

${EXIT_HELP}

Errors print one line on stderr: ${BIN}: COMMAND: CODE: description, syscall 'path'.`;
}

export function commandHelp(cmd: Command, helpShort: boolean): string {
  const opts = optionLines({ ...cmd.options, help: { type: "boolean", short: helpShort ? "h" : undefined, description: "this help" } });
  const usage = cmd.usage.split("\n").map((u, i) => `${i === 0 ? "Usage: " : "       "}${BIN} [WORKSPACE] ${u}`);
  return `${usage.join("\n")}

${cmd.summary[0]?.toUpperCase()}${cmd.summary.slice(1)}.

${cmd.details}

Options:
${opts.join("\n")}

Global options (${BIN} --help): -w WORKSPACE, --json, -q, --[no-]progress, --cache-dir DIR,
--cache-bytes SIZE, --endpoint URL, --region NAME, --[no-]path-style.`;
}

// Exit codes and the one-line error messages the CLI prints. Errors from the core carry Node-style codes
// (`err.code`); each code maps to one exit code so scripts can tell failures apart.
import { isFsError } from "../errors.ts";

export const EXIT = {
  OK: 0,
  /** Unexpected failure: an error without a known code. */
  FAILURE: 1,
  /** Bad command line: unknown command or option, missing or extra argument. */
  USAGE: 2,
  /** ENOENT: no such file or directory (in the workspace or locally), or no such workspace directory. */
  NOT_FOUND: 3,
  /** EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EINVAL, ENAMETOOLONG, ELOOP: the path is the wrong kind of thing. */
  BAD_PATH: 4,
  /** EROFS, ENOTSUP, EACCES, EPERM: refused (e.g. the store does not enforce conditional writes). */
  REFUSED: 5,
  /** EFENCED: another readwrite mount took over the workspace while this command was writing. */
  FENCED: 6,
  /** The object store or the network failed (HTTP status, timeouts, EIO). */
  STORE: 7,
  /** fsck: objects the namespace references are missing or corrupt. */
  FSCK_DAMAGED: 8,
  /** probe: the store does not enforce conditional writes (readwrite mounts would be refused). */
  PROBE_NONCOMPLIANT: 9,
  /** Every local state slot of this workspace is held by another running CLI process. */
  BUSY: 10,
  /** ECREDENTIALS: no S3 credentials were found, or the store refused them. */
  CREDENTIALS: 11,
  /** ENOTSTORE: the local directory exists but is not a store (a reading command will not make one). */
  NOT_A_STORE: 12,
  /** stdout was closed before everything was written (like a SIGPIPE); no message. */
  BROKEN_PIPE: 141,
  /** Interrupted by SIGINT (nothing of an unfinished upload was committed). */
  INTERRUPTED: 130,
} as const;

/** The exit-code table as `--help` prints it. */
export const EXIT_HELP = `Exit codes:
  0    success (fsck: no damage; probe: the store enforces conditional writes)
  1    unexpected failure
  2    usage error (unknown command or option, bad or missing argument)
  3    no such file or directory (ENOENT), or no such workspace directory
  4    wrong kind of path (EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EINVAL, ENAMETOOLONG, ELOOP)
  5    refused (EROFS, EACCES, EPERM; ENOTSUP: the store does not enforce conditional writes)
  6    fenced (EFENCED): another readwrite mount took over while this command was writing
  7    object store or network error (HTTP status, timeouts, EIO)
  8    fsck found missing or corrupt objects
  9    probe: the store does NOT enforce conditional writes
  10   busy: every local state slot of this workspace is in use by other CLI processes
  11   no S3 credentials found, or the store refused them (ECREDENTIALS)
  12   the local directory is not a store (ENOTSTORE); only put and sync uploads create one
  130  interrupted (Ctrl-C); an interrupted upload commits nothing
  141  stdout was closed early (e.g. piped into head); no message, as with SIGPIPE`;

/** A mistake on the command line (exit 2). */
export class UsageError extends Error {
  readonly code = "EUSAGE";
}

/** An error whose exit code is fixed by whoever threw it. */
export class ExitError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, exitCode: number, message: string) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

const BAD_PATH = new Set(["EEXIST", "ENOTDIR", "EISDIR", "ENOTEMPTY", "EINVAL", "ENAMETOOLONG", "ELOOP", "ERR_INVALID_ARG_TYPE"]);
const REFUSED = new Set(["EROFS", "ENOTSUP", "EACCES", "EPERM"]);
const STORE = new Set(["EIO", "ECORRUPT", "EAGAIN", "EPRECONDITION", "ENOTMODIFIED", "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET"]);

/** Whether the error came from an object-store request (the engine sets `status`/`storeError`). */
function fromStore(e: unknown): boolean {
  if (typeof e !== "object" || e === null) return false;
  return "storeError" in e || "status" in e;
}

export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return EXIT.USAGE;
  if (e instanceof ExitError) return e.exitCode;
  if (!isFsError(e)) return EXIT.FAILURE;
  const code = e.code;
  if (code === "EFENCED") return EXIT.FENCED;
  if (code === "ECREDENTIALS") return EXIT.CREDENTIALS;
  // A data object that vanished from the bucket is store damage, not a missing path.
  if (fromStore(e)) return code === "ENOTSUP" ? EXIT.REFUSED : EXIT.STORE;
  if (code === "ENOENT") return EXIT.NOT_FOUND;
  if (BAD_PATH.has(code)) return EXIT.BAD_PATH;
  if (REFUSED.has(code)) return EXIT.REFUSED;
  if (STORE.has(code)) return EXIT.STORE;
  if (code === "EBUSY") return EXIT.BUSY;
  return EXIT.FAILURE;
}

const HINTS: Record<string, string> = {
  EROFS: "this command mounts the workspace read-only",
  EFENCED: "another readwrite mount of this workspace took over; nothing this command had not yet committed became visible",
};

/** One line: the message without newlines, plus a hint for a few codes. */
export function errorLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const code = isFsError(e) ? e.code : undefined;
  const hint = code !== undefined && HINTS[code] !== undefined && !message.includes(HINTS[code]) ? ` (${HINTS[code]})` : "";
  return `${message}${hint}`.replace(/\s*\n\s*/g, " ").trim();
}

/** The error as an object for `--json` (on stderr). */
export function errorJson(e: unknown, exitCode: number): Record<string, unknown> {
  const out: Record<string, unknown> = { message: errorLine(e), exitCode };
  if (isFsError(e) || e instanceof UsageError || e instanceof ExitError) out.code = e.code;
  if (isFsError(e)) {
    if (e.syscall !== undefined) out.syscall = e.syscall;
    if (e.path !== undefined) out.path = e.path;
    if (e.dest !== undefined) out.dest = e.dest;
    const status = (e as { status?: unknown }).status;
    if (typeof status === "number") out.status = status;
  }
  return { error: out };
}

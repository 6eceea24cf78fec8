// Errors: plain Errors whose message is `"<CODE>: <text>, <syscall> '<path>'"` (what just-bash commands
// match on), with Node's `code`/`syscall`/`path` alongside; and how the shell reports a script's own.
import type { BashExecResult } from "just-bash";
import { codeOf } from "../adapters/absent.ts";
import { fsError } from "../errors.ts";

export interface CodedError extends Error {
  code: string;
  syscall: string;
  path: string;
}

const TEXT: Record<string, string> = {
  ENOENT: "no such file or directory",
  EEXIST: "file already exists",
  EISDIR: "illegal operation on a directory",
  ENOTDIR: "not a directory",
  ENOTEMPTY: "directory not empty",
  EINVAL: "invalid argument",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
};

export const fsErr = (code: string, syscall: string, path: string, text = TEXT[code] ?? code): CodedError => fsError(code, text, syscall, path) as CodedError;

/** Error codes a script's own file operations produce (as opposed to store or engine failures). */
const SCRIPT_FS_CODES: ReadonlySet<string> = new Set(["ENOENT", "EEXIST", "EISDIR", "ENOTDIR", "ENOTEMPTY", "EINVAL", "EPERM", "EROFS", "ENOTSUP", "ELOOP", "ENAMETOOLONG"]);

/** How bash words these errors (`bash: <path>: <text>`). */
const BASH_TEXT: Readonly<Record<string, string>> = {
  ENOENT: "No such file or directory",
  EISDIR: "Is a directory",
  ENOTDIR: "Not a directory",
  EROFS: "Read-only file system",
  EPERM: "Operation not permitted",
};

/**
 * just-bash rethrows out of `exec` the error of a failed output redirect (`echo x > f` where `f`
 * cannot be written: a readonly mount, a reserved path, a parent that is a file). bash reports it on
 * stderr with exit status 1; so does the shell, for errors of the script's own file operations. The
 * statements after it do not run, and the output before it is not recovered.
 */
export function failedCommand(e: unknown): BashExecResult | undefined {
  const err = e instanceof Error ? (e as Partial<CodedError>) : undefined;
  if (err !== undefined && typeof err.code !== "string") {
    // just-bash's own filesystems (its private /dev/fd mount) throw plain Errors: `EROFS: text, write '/p'`.
    const m = /^([A-Z]+): [^,]*, \w+ '([^']*)'$/.exec((e as Error).message);
    if (m !== null) Object.assign(err, { code: m[1], path: m[2] });
  }
  if (err === undefined || typeof err.code !== "string" || !SCRIPT_FS_CODES.has(err.code)) return undefined;
  const text = BASH_TEXT[err.code];
  const line = text !== undefined && typeof err.path === "string" ? `${err.path}: ${text}` : (e as Error).message;
  return { stdout: "", stderr: `bash: ${line}\n`, exitCode: 1, env: {} };
}

export const isConflict = (e: unknown): e is Error => e instanceof Error && codeOf(e) === "ECONFLICT";

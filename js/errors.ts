// Node-style errors made on the JS side (argument checks before anything reaches the engine). Errors
// from the engine already carry `code`, `syscall` and `path`.
import type { JsStoreErrorKind } from "../index.js";

export type StoreErrorKind = JsStoreErrorKind;

export interface FsError extends Error {
  code: string;
  syscall?: string;
  path?: string;
  dest?: string;
  /** The HTTP status, when an object-store request failed. */
  status?: number;
  /** The store's kind of failure, when an object-store request failed (docs/errors.md). */
  storeError?: StoreErrorKind;
}

export function fsError(code: string, description: string, syscall: string, path?: string): FsError {
  const err = new Error(`${code}: ${description}, ${syscall}${path === undefined ? "" : ` '${path}'`}`) as FsError;
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

/** The engine's error for a message it gave as a value (`"ENOENT: no such file or directory, open '/x'"`). */
export function errorFromMessage(message: string, syscall: string, path: string): FsError {
  const err = new Error(message) as FsError;
  err.code = message.slice(0, message.indexOf(":"));
  err.syscall = syscall;
  err.path = path;
  return err;
}

function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${value === null ? "null" : typeof value}`) as TypeError & { code: string };
  err.code = "ERR_INVALID_ARG_TYPE";
  return err;
}

/**
 * Throws Node's ERR_INVALID_ARG_TYPE unless `value` is a string, and EINVAL for a string that is not
 * well-formed UTF-16 (a lone surrogate would otherwise become U+FFFD and name another file).
 */
export function checkPath(value: unknown, name = "path"): asserts value is string {
  if (typeof value !== "string") throw invalidArgType(name, "of type string", value);
  if (!value.isWellFormed()) throw fsError("EINVAL", "invalid argument (the path has a lone surrogate)", "open", value.toWellFormed());
}

/** An optional integer option within `[min, max]`: ERR_INVALID_ARG_TYPE for a non-number, EINVAL out of range. */
export function checkInt(value: unknown, name: string, min: number, max: number, syscall: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number") throw invalidArgType(name, "of type number", value);
  if (!Number.isInteger(value) || value < min || value > max) throw fsError("EINVAL", `invalid argument (${name} must be an integer from ${min} to ${max})`, syscall);
  return value;
}

export function isFsError(e: unknown): e is FsError {
  return e instanceof Error && typeof (e as Partial<FsError>).code === "string";
}

/** Runs a synchronous engine call and returns its result as a settled promise. */
export function settled<T>(f: () => T | PromiseLike<T>): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Like `checkInt`, for an argument that must be given. */
export function requireInt(value: unknown, name: string, min: number, max: number, syscall: string): number {
  const v = checkInt(value, name, min, max, syscall);
  if (v === undefined) throw invalidArgType(name, "of type number", value);
  return v;
}

// Node-style errors made on the JS side (argument checks before anything reaches the engine). Errors
// from the engine already carry `code`, `syscall` and `path`.

export interface FsError extends Error {
  code: string;
  syscall?: string;
  path?: string;
  dest?: string;
}

export function fsError(code: string, description: string, syscall: string, path?: string): FsError {
  const err = new Error(`${code}: ${description}, ${syscall}${path === undefined ? "" : ` '${path}'`}`) as FsError;
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

/** Throws Node's ERR_INVALID_ARG_TYPE unless `value` is a string. */
export function checkPath(value: unknown, name = "path"): asserts value is string {
  if (typeof value !== "string") {
    const err = new TypeError(`The "${name}" argument must be of type string. Received ${value === null ? "null" : typeof value}`) as TypeError & { code: string };
    err.code = "ERR_INVALID_ARG_TYPE";
    throw err;
  }
}

export function isFsError(e: unknown): e is FsError {
  return e instanceof Error && typeof (e as Partial<FsError>).code === "string";
}

/** Runs a synchronous engine call and returns its result as a settled promise. */
export function settled<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(e);
  }
}

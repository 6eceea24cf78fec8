// Mastra's error classes: injected, imported lazily, or look-alikes; and our Node-style errors as the
// Mastra error a caller expects.
import { posix } from "node:path";
import { codeOf } from "../adapters/absent.ts";

type PathErrorClass = new (path: string) => Error;

/** The Mastra error classes the adapter throws; pass `await import("@mastra/core/workspace")`. */
export interface MastraErrorClasses {
  FileNotFoundError: PathErrorClass;
  DirectoryNotFoundError: PathErrorClass;
  FileExistsError: PathErrorClass;
  IsDirectoryError: PathErrorClass;
  NotDirectoryError: PathErrorClass;
  DirectoryNotEmptyError: PathErrorClass;
  PermissionError: new (path: string, operation: string) => Error;
  StaleFileError: new (path: string, expectedMtime: Date, actualMtime: Date) => Error;
  UnsupportedGrepPatternError: new (pattern: string, reason?: string) => Error;
}

// Stand-ins with Mastra's names, codes and messages, for when @mastra/core is not installed (then nothing
// checks `instanceof` against Mastra's own classes anyway).
class FilesystemError extends Error {
  readonly code: string;
  readonly path: string;
  constructor(message: string, code: string, path: string) {
    super(message);
    this.code = code;
    this.path = path;
    this.name = "FilesystemError";
  }
}
function pathError(name: string, code: string, describe: (path: string) => string): PathErrorClass {
  const cls = class extends FilesystemError {
    constructor(path: string) {
      super(describe(path), code, path);
      this.name = name;
    }
  };
  Object.defineProperty(cls, "name", { value: name });
  return cls;
}
export const fallbackErrors: MastraErrorClasses = {
  FileNotFoundError: pathError("FileNotFoundError", "ENOENT", (p) => `File not found: ${p}`),
  DirectoryNotFoundError: pathError("DirectoryNotFoundError", "ENOENT", (p) => `Directory not found: ${p}`),
  FileExistsError: pathError("FileExistsError", "EEXIST", (p) => `File already exists: ${p}`),
  IsDirectoryError: pathError("IsDirectoryError", "EISDIR", (p) => `Path is a directory: ${p}`),
  NotDirectoryError: pathError("NotDirectoryError", "ENOTDIR", (p) => `Path is not a directory: ${p}`),
  DirectoryNotEmptyError: pathError("DirectoryNotEmptyError", "ENOTEMPTY", (p) => `Directory not empty: ${p}`),
  PermissionError: class PermissionError extends FilesystemError {
    readonly operation: string;
    constructor(path: string, operation: string) {
      super(`Permission denied: ${operation} on ${path}`, "EACCES", path);
      this.operation = operation;
      this.name = "PermissionError";
    }
  },
  StaleFileError: class StaleFileError extends FilesystemError {
    readonly expectedMtime: Date;
    readonly actualMtime: Date;
    constructor(path: string, expectedMtime: Date, actualMtime: Date) {
      super(`File was modified externally: ${path} (expected mtime ${expectedMtime.toISOString()}, actual ${actualMtime.toISOString()})`, "ESTALE", path);
      this.expectedMtime = expectedMtime;
      this.actualMtime = actualMtime;
      this.name = "StaleFileError";
    }
  },
  UnsupportedGrepPatternError: class UnsupportedGrepPatternError extends FilesystemError {
    constructor(pattern: string, reason?: string) {
      super(`Unsupported grep pattern: ${pattern}${reason ? ` (${reason})` : ""}`, "EUNSUPPORTED_PATTERN", pattern);
      this.name = "UnsupportedGrepPatternError";
    }
  },
};

export function completeErrors(given: Partial<MastraErrorClasses>): MastraErrorClasses {
  const out = { ...fallbackErrors };
  for (const key of Object.keys(fallbackErrors) as (keyof MastraErrorClasses)[]) {
    const cls = given[key];
    if (typeof cls === "function") (out as Record<keyof MastraErrorClasses, unknown>)[key] = cls;
  }
  return out;
}

/** Mastra's error classes, loaded on demand; look-alikes when @mastra/core is not installed. */
export async function loadMastraErrors(): Promise<MastraErrorClasses> {
  try {
    return completeErrors((await import("@mastra/core/workspace")) as Partial<MastraErrorClasses>);
  } catch {
    return fallbackErrors;
  }
}

/** Which "not found" a caller expects: the path itself as a file, as a directory, or its parent directory. */
export type NotFoundKind = "file" | "directory" | "parent";

/** Our Node-style error as the Mastra error (of `E`) a caller of `operation` on `path` expects; others pass through. */
export function translateError(E: MastraErrorClasses, e: unknown, path: string, operation: string, notFound: NotFoundKind = "file"): unknown {
  if (Object.values(E).some((cls) => e instanceof cls)) return e;
  switch (codeOf(e)) {
    case "ENOENT":
      if (notFound === "directory") return new E.DirectoryNotFoundError(path);
      if (notFound === "parent") return new E.DirectoryNotFoundError(posix.dirname(path));
      return new E.FileNotFoundError(path);
    case "EEXIST":
      return new E.FileExistsError(path);
    case "EISDIR":
      return new E.IsDirectoryError(path);
    case "ENOTDIR":
      if (notFound === "file") return new E.FileNotFoundError(path);
      return new E.NotDirectoryError(notFound === "parent" ? posix.dirname(path) : path);
    case "ENOTEMPTY":
      return new E.DirectoryNotEmptyError(path);
    case "EROFS":
    case "EACCES":
    case "EPERM":
      return new E.PermissionError(path, operation);
    default:
      return e;
  }
}

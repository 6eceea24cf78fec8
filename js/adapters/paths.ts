// Path forms shared by the adapters: one normaliser for every workspace path they are given.

/** An absolute path without `.`/`..`/empty segments or a trailing slash; `..` stops at the root. */
export function normalizeVirtualPath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

/** `path` resolved against `base` (both virtual); absolute paths are only normalised. Never touches a store. */
export function resolveVirtualPath(base: string, path: string): string {
  return normalizeVirtualPath(path.startsWith("/") ? path : `${base}/${path}`);
}

/** The parent of a normalised path (`/` for `/` and its children). */
export const parentOf = (p: string): string => p.slice(0, p.lastIndexOf("/")) || "/";

/** `name` (one segment or a relative path) under the normalised directory `dir`. */
export const childOf = (dir: string, name: string): string => (dir === "/" ? `/${name}` : `${dir}/${name}`);

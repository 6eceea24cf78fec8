// just-bash's forms: encodings as its own filesystems apply them, and its stat and dirent shapes.
import type { BufferEncoding, FileContent, FsStat, IFileSystem } from "just-bash";
import type { Dirent, Stats } from "../core.ts";

/** `readdirWithFileTypes` entries (just-bash does not export the name). */
export type DirentEntry = Awaited<ReturnType<NonNullable<IFileSystem["readdirWithFileTypes"]>>>[number];
export type EncodingArg = Parameters<IFileSystem["readFile"]>[1] | Parameters<IFileSystem["writeFile"]>[2];

export function encodingOf(options: EncodingArg): BufferEncoding | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options === "string") return options;
  return options.encoding ?? undefined;
}

export function encode(content: FileContent, encoding: BufferEncoding | undefined): Uint8Array {
  if (content instanceof Uint8Array) return content;
  switch (encoding) {
    case "base64":
      return Buffer.from(content, "base64");
    case "hex":
      return Buffer.from(content, "hex");
    case "binary":
    case "latin1":
      return Buffer.from(content, "latin1");
    default:
      return Buffer.from(content, "utf8");
  }
}

export function decode(bytes: Uint8Array, encoding: BufferEncoding | undefined): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (encoding) {
    case "base64":
      return buf.toString("base64");
    case "hex":
      return buf.toString("hex");
    case "binary":
    case "latin1":
      return buf.toString("latin1");
    default:
      return new TextDecoder().decode(buf);
  }
}

export function toFsStat(s: Stats, follow: boolean): FsStat {
  return {
    isFile: s.isFile(),
    isDirectory: s.isDirectory(),
    isSymbolicLink: !follow && s.isSymbolicLink(),
    // Permission bits only, as just-bash's own filesystems report them; the type is in the flags.
    mode: s.mode & 0o7777,
    size: s.size,
    mtime: s.mtime,
    ino: s.ino,
    // The engine's inode number: stable per node, shared by nothing else (`ls -R` cycle detection).
    identity: `s3fs-ino:${s.ino}`,
  };
}

export const toDirent = (d: Dirent): DirentEntry => ({
  name: d.name,
  isFile: d.isFile(),
  isDirectory: d.isDirectory(),
  isSymbolicLink: d.isSymbolicLink(),
});
export const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

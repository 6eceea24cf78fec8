// The local file `openWrite` and `materialize` hand out: a `BunFile` under Bun; under Node a `NodeLocalFile`,
// a Blob over the same path with the BunFile methods people use (text/bytes/stream to read, write/writer to
// fill). `Bun` is looked at when a file is made, never at import time.
import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync, createReadStream, writeFileSync } from "node:fs";
import { Readable } from "node:stream";

/**
 * `BunFile` where Bun's types are loaded (the global `Bun` is declared), else `NodeLocalFile`: so a Bun app
 * gets the precise type and a Node app typechecks without `@types/bun`.
 */
export type LocalFile = typeof globalThis extends { Bun: { file(path: string): infer F } } ? F : NodeLocalFile;

/** What `NodeLocalFile.writer()` returns: the part of Bun's `FileSink` that fills a file. */
export interface LocalFileSink {
  /** Writes now; returns the bytes written. */
  write(chunk: string | ArrayBufferView | ArrayBuffer): number;
  flush(): number;
  /** Closes the file; resolves to the bytes written in all. */
  end(): Promise<number>;
}

const bytesOf = (data: string | ArrayBufferView | ArrayBuffer): Uint8Array =>
  typeof data === "string"
    ? Buffer.from(data)
    : data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

/**
 * A local file for Node, by path: a `Blob` whose reads go to the file as it is now (not a snapshot), plus
 * `write(data)` and `writer()` to fill it, and `exists()`. `CachedFs.writeFile` takes it as it takes a
 * `BunFile` (the engine reads the file itself).
 */
export class NodeLocalFile extends Blob {
  /** The file's path. */
  readonly name: string;

  constructor(path: string) {
    super([]);
    this.name = path;
  }
  override get size(): number {
    return existsSync(this.name) ? statSync(this.name).size : 0;
  }
  override get type(): string {
    return "";
  }
  get lastModified(): number {
    return existsSync(this.name) ? statSync(this.name).mtimeMs : 0;
  }
  async exists(): Promise<boolean> {
    return existsSync(this.name);
  }
  override async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    const b = readFileSync(this.name);
    return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength);
  }
  override async arrayBuffer(): Promise<ArrayBuffer> {
    const b = readFileSync(this.name);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }
  override async text(): Promise<string> {
    return readFileSync(this.name, "utf8");
  }
  override async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
  override stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return Readable.toWeb(createReadStream(this.name)) as ReadableStream<Uint8Array<ArrayBuffer>>;
  }
  override slice(start?: number, end?: number, contentType?: string): Blob {
    return new Blob([readFileSync(this.name).subarray(start, end)], { type: contentType });
  }
  /** Replaces the file's contents (like `Bun.write(file, data)`); resolves to the bytes written. */
  async write(data: string | ArrayBufferView | ArrayBuffer | Blob): Promise<number> {
    const bytes = data instanceof Blob ? new Uint8Array(await data.arrayBuffer()) : bytesOf(data);
    writeFileSync(this.name, bytes);
    return bytes.byteLength;
  }
  /** Writes the file from its start, a chunk at a time (like `BunFile.writer()`). */
  writer(): LocalFileSink {
    const fd = openSync(this.name, "w");
    let written = 0;
    let open = true;
    return {
      write(chunk) {
        const b = bytesOf(chunk);
        let off = 0;
        while (off < b.byteLength) off += writeSync(fd, b, off);
        written += b.byteLength;
        return b.byteLength;
      },
      flush: () => 0,
      end: async () => {
        if (open) closeSync(fd);
        open = false;
        return written;
      },
    };
  }
}

/** The local file at `path` for this runtime. */
export function localFile(path: string): LocalFile {
  return (typeof Bun !== "undefined" ? Bun.file(path) : new NodeLocalFile(path)) as LocalFile;
}

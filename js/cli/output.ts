// Writing results: text lines or one JSON document on stdout, progress and errors on stderr. Under Bun
// through Bun.stdout; under Node through process.stdout (a closed reader rejects with EPIPE either way).

const underBun = (): boolean => typeof Bun !== "undefined";

/** Node: one write to stdout, resolved once it is handed to the OS, rejected on EPIPE and the like. */
function nodeWrite(data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    process.stdout.once("error", onError);
    process.stdout.write(data, (e) => {
      process.stdout.off("error", onError);
      if (e) reject(e);
      else resolve();
    });
  });
}

/** Writes all of `data` to stdout before resolving (so an exit right after loses nothing). */
export async function writeStdout(data: string | Uint8Array): Promise<void> {
  if (typeof data === "string" ? data.length === 0 : data.byteLength === 0) return;
  if (underBun()) await Bun.write(Bun.stdout, data);
  else await nodeWrite(data);
}

export async function printLines(lines: readonly string[]): Promise<void> {
  if (lines.length > 0) await writeStdout(`${lines.join("\n")}\n`);
}

export async function printJson(value: unknown): Promise<void> {
  await writeStdout(`${JSON.stringify(value, null, 2)}\n`);
}

export function writeStderr(text: string): void {
  process.stderr.write(text);
}

/** Streams bytes to stdout as they come, waiting whenever the reader is slower. */
export async function pipeToStdout(stream: ReadableStream<Uint8Array>, onChunk?: (n: number) => void): Promise<void> {
  if (!underBun()) {
    for await (const chunk of stream) {
      await nodeWrite(chunk);
      onChunk?.(chunk.byteLength);
    }
    return;
  }
  const sink = Bun.stdout.writer();
  try {
    for await (const chunk of stream) {
      sink.write(chunk);
      await sink.flush();
      onChunk?.(chunk.byteLength);
    }
  } finally {
    await sink.flush();
  }
}

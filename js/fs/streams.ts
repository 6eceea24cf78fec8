// A file read as a Web stream, a window at a time with reads in flight ahead of the consumer.
import type { NativeFileHandle } from "../../index.js";

/** Bytes per read while streaming, and reads kept in flight ahead of the consumer. */
export const STREAM_WINDOW = 4 << 20;
const STREAM_READ_AHEAD = 3;

/** `[start, stop)` of an open file (`stop` already clamped to its size). */
export function readAhead(handle: NativeFileHandle, start: number, stop: number): ReadableStream<Uint8Array> {
  let next = start;
  const inFlight: Promise<Buffer>[] = [];
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        while (inFlight.length < STREAM_READ_AHEAD && next < stop) {
          const length = Math.min(STREAM_WINDOW, stop - next);
          inFlight.push(handle.read(next, length));
          next += length;
        }
        const head = inFlight.shift();
        if (head === undefined) {
          controller.close();
          return;
        }
        const buf = await head;
        controller.enqueue(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      },
      cancel() {
        for (const p of inFlight.splice(0)) p.catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

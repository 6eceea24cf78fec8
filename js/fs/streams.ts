// A file read as a Web stream, in the manner of mountpoint-s3's prefetcher: a small first read (a consumer
// that wants only the head of a file gets it at once, and fetches little), then reads that double in size
// and in number kept in flight while the consumer keeps pulling, up to whole chunks several deep.
import type { NativeFileHandle } from "../../index.js";

/** The first read's size, and the largest (half a chunk: later reads fall inside one chunk each). */
const FIRST_READ = 256 << 10;
const MAX_READ = 4 << 20;
/** Reads kept in flight ahead of the consumer, once the window is grown (memory: this many × MAX_READ). */
const STREAM_READ_AHEAD = 3;

/** `[start, stop)` of an open file (`stop` already clamped to its size). */
export function readAhead(handle: NativeFileHandle, start: number, stop: number): ReadableStream<Uint8Array> {
  let next = start;
  let size = FIRST_READ;
  let depth = 1;
  const inFlight: Promise<Buffer>[] = [];
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        while (inFlight.length < depth && next < stop) {
          // Full-size reads end on chunk boundaries, so each is served by one chunk's blocks.
          const length = Math.min(size, stop - next, size === MAX_READ ? MAX_READ - (next % MAX_READ) : Infinity);
          inFlight.push(handle.read(next, length));
          next += length;
          size = Math.min(size * 2, MAX_READ);
          depth = Math.min(depth + 1, STREAM_READ_AHEAD);
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

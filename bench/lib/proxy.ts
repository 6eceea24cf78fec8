// A counting TCP proxy for S3 traffic, run as its own process (`bun bench/lib/proxy.ts <upstream> <label>...`).
//
// Each label gets its own listening port on 127.0.0.1, so every client (ours, @mastra/s3, the raw
// Bun.S3Client, JuiceFS) is counted apart without looking at keys. Bytes are piped through untouched (SigV4
// signs the Host header, which the client set to the proxy's address and the server checks as received);
// only the client-to-server direction is parsed, far enough to find where each request starts, so every
// HTTP request is counted by kind: get, ranged get, head, put, list, delete, post (multipart create and
// complete, batch delete). Keys under a known engine folder (heads/, wal/, packs/, chunks/, snapshots/)
// are tallied per folder as well.
//
// Prints one JSON line `{"control": port, "ports": {label: port}}` on stdout, then serves
// `GET http://127.0.0.1:<control>/counts` (all tallies as JSON) until stdin closes or it is signalled.
import * as net from "node:net";

export interface KindCounts {
  get: number;
  rangedGet: number;
  head: number;
  put: number;
  list: number;
  delete: number;
  post: number;
  other: number;
  total: number;
  bytesUp: number;
  bytesDown: number;
  /** Requests per engine folder, e.g. `put:packs`, `get:heads`. */
  folders: Record<string, number>;
}

export const emptyCounts = (): KindCounts => ({ get: 0, rangedGet: 0, head: 0, put: 0, list: 0, delete: 0, post: 0, other: 0, total: 0, bytesUp: 0, bytesDown: 0, folders: {} });

const FOLDERS = ["heads", "wal", "packs", "chunks", "snapshots"];
const MAX_HEAD = 256 * 1024;
const CRLF2 = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");

function classify(method: string, target: string, ranged: boolean): keyof Omit<KindCounts, "total" | "bytesUp" | "bytesDown" | "folders"> {
  const q = target.indexOf("?");
  const query = q < 0 ? "" : target.slice(q + 1);
  const params = new URLSearchParams(query);
  switch (method) {
    case "GET":
      if (params.has("list-type") || params.has("prefix") || params.has("delimiter") || params.has("continuation-token") || params.has("marker")) return "list";
      if (params.has("uploads") || params.has("uploadId")) return "other";
      return ranged ? "rangedGet" : "get";
    case "HEAD":
      return "head";
    case "PUT":
      return "put";
    case "DELETE":
      return "delete";
    case "POST":
      return "post";
    default:
      return "other";
  }
}

function folderOf(target: string): string | undefined {
  const q = target.indexOf("?");
  const path = decodeURIComponent(q < 0 ? target : target.slice(0, q));
  const parts = path.split("/");
  // the first matching segment after the bucket (parts[0] is "", parts[1] the bucket)
  for (let i = 2; i < parts.length - 1; i++) if (FOLDERS.includes(parts[i] as string)) return parts[i];
  return undefined;
}

/** Follows one client-to-server byte stream and calls `onRequest` at the head of every request. */
class RequestParser {
  #state: "head" | "body" | "chunkSize" | "chunkData" | "trailer" = "head";
  #buf: Buffer = Buffer.alloc(0);
  #remaining = 0;
  constructor(private readonly onRequest: (method: string, target: string, headers: Map<string, string>) => void) {}

  push(data: Buffer): void {
    let off = 0;
    while (off < data.length) {
      if (this.#state === "body" || this.#state === "chunkData") {
        const take = Math.min(this.#remaining, data.length - off);
        off += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = this.#state === "body" ? "head" : "chunkSize";
        continue;
      }
      // line-oriented states: accumulate until the delimiter
      const need = this.#state === "head" ? CRLF2 : CRLF;
      const rest = data.subarray(off);
      const joined = this.#buf.length > 0 ? Buffer.concat([this.#buf, rest]) : rest;
      const at = joined.indexOf(need);
      if (at < 0) {
        if (joined.length > MAX_HEAD) throw new Error("request head too large");
        this.#buf = Buffer.from(joined);
        return;
      }
      const consumedFromRest = at + need.length - this.#buf.length;
      const text = joined.subarray(0, at).toString("latin1");
      this.#buf = Buffer.alloc(0);
      off += consumedFromRest;
      this.#line(text);
    }
  }

  #line(text: string): void {
    switch (this.#state) {
      case "head": {
        const lines = text.split("\r\n");
        const [method = "", target = ""] = (lines[0] ?? "").split(" ");
        const headers = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const c = l.indexOf(":");
          if (c > 0) headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim());
        }
        this.onRequest(method, target, headers);
        if ((headers.get("transfer-encoding") ?? "").toLowerCase().includes("chunked")) {
          this.#state = "chunkSize";
        } else {
          const len = Number(headers.get("content-length") ?? "0");
          this.#remaining = Number.isFinite(len) && len > 0 ? len : 0;
          this.#state = this.#remaining > 0 ? "body" : "head";
        }
        return;
      }
      case "chunkSize": {
        const size = Number.parseInt(text.split(";")[0] ?? "0", 16);
        if (!Number.isFinite(size) || size === 0) {
          this.#state = "trailer";
        } else {
          this.#remaining = size + 2; // the data and its CRLF
          this.#state = "chunkData";
        }
        return;
      }
      case "trailer":
        if (text === "") this.#state = "head";
        return;
      default:
        return;
    }
  }
}

function serveLabel(label: string, upstreamHost: string, upstreamPort: number, counts: KindCounts): Promise<number> {
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: upstreamHost, port: upstreamPort, noDelay: true });
    const parser = new RequestParser((method, target, headers) => {
      const kind = classify(method, target, headers.has("range"));
      counts[kind]++;
      counts.total++;
      const folder = folderOf(target);
      if (folder !== undefined) {
        const k = `${kind}:${folder}`;
        counts.folders[k] = (counts.folders[k] ?? 0) + 1;
      }
    });
    client.on("data", (d: Buffer) => {
      counts.bytesUp += d.length;
      try {
        parser.push(d);
      } catch {
        counts.other++;
      }
    });
    upstream.on("data", (d: Buffer) => {
      counts.bytesDown += d.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const a = server.address();
      if (a === null || typeof a === "string") return reject(new Error(`no address for ${label}`));
      resolve(a.port);
    });
  });
}

if (import.meta.main) {
  const [upstream, ...labels] = process.argv.slice(2);
  const url = new URL(upstream ?? "");
  if (url.hostname !== "127.0.0.1" && url.hostname !== "localhost") throw new Error("the proxy only forwards to loopback");
  const all: Record<string, KindCounts> = {};
  const ports: Record<string, number> = {};
  for (const label of labels) {
    all[label] = emptyCounts();
    ports[label] = await serveLabel(label, url.hostname, Number(url.port), all[label]);
  }
  const control = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json(all) });
  process.stdout.write(`${JSON.stringify({ control: control.port, ports })}\n`);
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
}

// Results: what each measure returns, and the markdown / JSON the run writes.

export type Verdict = "yes" | "no" | "pending" | "skipped" | "error";

/** One line of the table: ours against one peer (or alone). */
export interface Row {
  measure: string;
  ours: string;
  peer: string;
  peerResult: string;
  /** How many times better ours is than the peer (time or throughput); "—" without a peer. */
  ratio: string;
  oursRequests: string;
  peerRequests: string;
  /** The target this row is judged on, if any. */
  target?: string;
  holds?: Verdict;
  /** Why a target missed, or what was pending. */
  holdsDetail?: string;
}

export interface MeasureResult {
  id: string;
  title: string;
  status: "ok" | "crashed" | "pending" | "skipped";
  error?: string;
  rows: Row[];
  notes: string[];
  /** Raw numbers, for latest.json. */
  data: Record<string, unknown>;
  seconds: number;
}

export interface MachineInfo {
  nproc: number;
  memory: string;
  cpu: string;
  kernel: string;
  bun: string;
  seaweedfs: string;
  juicefs: string;
  /** The commit benchmarked, and when the native addon was built. */
  build: string;
  /** 1-minute load average when the run started and when it ended (other work on the machine skews timings). */
  load: string;
}

export interface RunReport {
  mode: "full" | "quick";
  startedAt: string;
  seconds: number;
  machine: MachineInfo;
  measures: MeasureResult[];
}

const esc = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function verdictText(r: Row): string {
  if (r.holds === undefined) return "—";
  const word = { yes: "✅ yes", no: "❌ **no**", pending: "⏳ pending", skipped: "skipped", error: "💥 error" }[r.holds];
  return r.holdsDetail !== undefined && r.holdsDetail !== "" ? `${word} (${r.holdsDetail})` : word;
}

export function renderTable(measures: MeasureResult[]): string {
  const head = ["measure", "ours", "peer", "peer result", "ours vs peer", "requests (ours)", "requests (peer)", "target", "holds"];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const m of measures) {
    if (m.rows.length === 0) {
      const why = m.status === "crashed" ? `crashed: ${m.error ?? "?"}` : m.status === "pending" ? (m.error ?? "pending") : m.status;
      lines.push(`| ${esc(m.title)} | ${esc(why)} | — | — | — | — | — | — | ${m.status === "crashed" ? "💥 error" : m.status === "pending" ? "⏳ pending" : "—"} |`);
      continue;
    }
    for (const r of m.rows) {
      lines.push(
        `| ${[r.measure, r.ours, r.peer, r.peerResult, r.ratio, r.oursRequests, r.peerRequests, r.target ?? "—", verdictText(r)].map(esc).join(" | ")} |`,
      );
    }
  }
  return lines.join("\n");
}

export function renderMarkdown(report: RunReport): string {
  const m = report.machine;
  const out: string[] = [];
  out.push(`# Benchmark results (${report.mode} run)`);
  out.push("");
  out.push(
    `${report.startedAt} · ${m.nproc} cores (${m.cpu}) · ${m.memory} RAM · ${m.kernel} · Bun ${m.bun} · SeaweedFS ${m.seaweedfs} · JuiceFS ${m.juicefs} · ${m.build} · load ${m.load} · run took ${report.seconds.toFixed(0)} s`,
  );
  out.push("");
  out.push(
    '"ours vs peer" is how many times faster (or, for request counts, fewer) ours is: peer time ÷ our time, our throughput ÷ theirs. Every client, ours included, talks to the same SeaweedFS through its own port of a counting proxy on 127.0.0.1; "requests (ours)" comes from `fs.stats().requests`, the peers\' from the proxy.',
  );
  out.push("");
  out.push(renderTable(report.measures));
  out.push("");
  const notes = report.measures.flatMap((x) => [
    ...(x.status === "crashed" ? [`**${x.title}** crashed: ${x.error ?? "?"}`] : []),
    ...x.notes.map((n) => `**${x.title}**: ${n}`),
  ]);
  if (notes.length > 0) {
    out.push("Notes:");
    out.push("");
    for (const n of notes) out.push(`- ${n}`);
    out.push("");
  }
  return out.join("\n");
}

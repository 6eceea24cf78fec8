// Progress on stderr while bytes move: a bar with files, bytes and rate (cli-progress draws it). Shown on a
// terminal; silent when stderr is not one, unless forced with --progress (then a line every second).
import { SingleBar } from "cli-progress";
import { iecBytes } from "./format.ts";

export interface Progress {
  /** What is done so far (absolute counts). */
  update(files: number, bytes: number): void;
  /** Grows the totals (a transfer of unknown size, such as stdin). */
  setTotals(files: number, bytes: number): void;
  /** Names the current phase ("upload", "commit", ...). */
  phase(label: string): void;
  stop(): void;
}

/** Where and whether progress shows: `auto` = on when stderr is a terminal. */
export type ProgressMode = "auto" | "on" | "off";

const SILENT: Progress = { update() {}, setTotals() {}, phase() {}, stop() {} };

/** Bars on screen, so an interrupt can put the terminal (cursor) back first. */
const active = new Set<Progress>();

export function stopAllProgress(): void {
  for (const p of [...active]) p.stop();
}

/** Bytes per second over the last few seconds of samples (since the start while that is shorter). */
class RateMeter {
  readonly #samples: { t: number; bytes: number }[] = [];
  #start: { t: number; bytes: number } | undefined;
  add(bytes: number): void {
    const t = performance.now();
    const sample = { t, bytes };
    this.#start ??= sample;
    this.#samples.push(sample);
    while (this.#samples.length > 2 && t - (this.#samples[0]?.t ?? t) > 5000) this.#samples.shift();
  }
  rate(): number {
    const last = this.#samples[this.#samples.length - 1];
    let first = this.#samples[0];
    if (first !== undefined && last !== undefined && last.t - first.t < 1000) first = this.#start;
    if (first === undefined || last === undefined || last.t - first.t < 1) return 0;
    return ((last.bytes - first.bytes) * 1000) / (last.t - first.t);
  }
}

export function startProgress(mode: ProgressMode, label: string, totals: { files: number; bytes: number }): Progress {
  const stream = process.stderr;
  const tty = stream.isTTY === true;
  if (mode === "off" || (mode === "auto" && !tty)) return SILENT;
  let files = totals.files;
  let bytes = totals.bytes;
  let doneFiles = 0;
  let doneBytes = 0;
  let label_ = label;
  const meter = new RateMeter();
  const bar = new SingleBar({
    format: "{phase} [{bar}] {percentage}% | {files} files | {bytes} | {rate} | ETA {eta_formatted}",
    stream,
    barsize: 24,
    barCompleteChar: "#",
    barIncompleteChar: "-",
    hideCursor: tty,
    clearOnComplete: false,
    noTTYOutput: !tty,
    notTTYSchedule: 1000,
    etaBuffer: 50,
    fps: 8,
    // We handle Ctrl-C ourselves (cli-progress's handler would swallow it).
    gracefulExit: false,
  });
  const payload = () => ({
    phase: label_,
    files: `${doneFiles}/${files}`,
    bytes: `${iecBytes(doneBytes)}/${iecBytes(bytes)}`,
    rate: `${iecBytes(Math.round(meter.rate()))}/s`,
  });
  // The bar's value is bytes; a transfer of empty files only advances by files.
  const value = () => (bytes > 0 ? doneBytes : doneFiles);
  const total = () => (bytes > 0 ? bytes : Math.max(files, 1));
  meter.add(0);
  bar.start(total(), 0, payload());
  let stopped = false;
  const progress: Progress = {
    update(f, b) {
      doneFiles = Math.min(f, files);
      doneBytes = Math.min(b, bytes);
      meter.add(doneBytes);
      bar.update(value(), payload());
    },
    setTotals(f, b) {
      files = f;
      bytes = b;
      bar.setTotal(total());
      bar.update(value(), payload());
    },
    phase(l) {
      label_ = l;
      bar.update(value(), payload());
    },
    stop() {
      if (stopped) return;
      stopped = true;
      active.delete(progress);
      bar.update(value(), payload());
      bar.stop();
    },
  };
  active.add(progress);
  return progress;
}

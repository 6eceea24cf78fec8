// Bounded waiting for the concurrency suites (issue 11): every call a test makes settles or is reported
// as a hang, and a settled promise is inspected rather than thrown.
import { recordError } from "./reliability.ts";

/** Resolves or rejects as `p` does, or rejects with "hang: <what> did not settle within …" after `ms`. */
export async function within<T>(p: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`hang: ${what} did not settle within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export type SettledError = Error & { code?: string; path?: string; conflict?: unknown; syscall?: string };
export type Settled<T> = { ok: true; value: T } | { ok: false; error: SettledError };

/** The outcome of `p`, never a rejection (a rejection's error is recorded for the secret check). */
export function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (e: unknown) => ({ ok: false as const, error: recordError(e, "settle") as SettledError }),
  );
}

/** A promise and the function that resolves it. */
export function signal(): { promise: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { promise, fire };
}

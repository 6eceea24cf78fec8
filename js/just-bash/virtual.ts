import type { FsStat } from "just-bash";
import { byName, type DirentEntry } from "./forms.ts";

// The in-memory part of the namespace: command lookups and devices never reach the store.
//
// just-bash resolves a command by looking for `<dir>/<cmd>` in each PATH directory (`/usr/bin`, `/bin`),
// then, when `/usr/bin` does not exist, in its registry. Here `/bin/<cmd>` and `/usr/bin/<cmd>` of the
// shell's registered commands exist as read-only stubs (so `which` works), answered from memory, unless
// the workspace has a file of that name; everything else under `/bin` and `/usr/bin` is the workspace's,
// so scripts can be installed there (`chmod +x`) and run by name, and a lookup costs a local metadata
// query at most, never a request. The directories themselves exist only once the workspace has them,
// so `ls /` and `find /` show the workspace and `/dev`, not 80 stubs.
// `/dev` is a small read-only directory of empty devices; writes to them are discarded. `/dev/fd/<n>`
// files (process substitution) live in memory, per view (so per exec), as on just-bash's InMemoryFs.
// Anything else under `/dev` is refused with EROFS.

const DEVICES = ["null", "stderr", "stdin", "stdout", "zero"] as const;
export const DEVICE_PATHS: ReadonlySet<string> = new Set(DEVICES.map((d) => `/dev/${d}`));
export const DEV_FD = "/dev/fd";
export const VIRTUAL_DIRS: ReadonlyMap<string, DirentEntry[]> = new Map([
  [
    "/dev",
    [
      { name: "fd", isFile: false, isDirectory: true, isSymbolicLink: false },
      ...DEVICES.map((name) => ({ name, isFile: true, isDirectory: false, isSymbolicLink: false })),
    ].sort((a, b) => byName(a.name, b.name)),
  ],
  [DEV_FD, []],
]);
export const DEV_ENTRY: DirentEntry = { name: "dev", isFile: false, isDirectory: true, isSymbolicLink: false };

/** How a normalised path is served when it is not the workspace's (`fd`: a `/dev/fd/<n>` file in memory). */
export type Reserved = "device" | "virtualDir" | "command" | "fd" | "readonly";

export const commandStub = (p: string): Uint8Array => Buffer.from(`#!/bin/bash\n# Built-in command: ${p.slice(p.lastIndexOf("/") + 1)}\n`);

export const EPOCH = new Date(0);
export function virtualStat(kind: "device" | "virtualDir" | "command", p: string): FsStat {
  if (kind === "virtualDir") return { isFile: false, isDirectory: true, isSymbolicLink: false, mode: 0o755, size: 0, mtime: EPOCH };
  // Command stubs are not executable: just-bash runs registered commands from /bin and /usr/bin without
  // the bit, and never mistakes a stub for a script.
  if (kind === "command") return { isFile: true, isDirectory: false, isSymbolicLink: false, mode: 0o644, size: commandStub(p).byteLength, mtime: EPOCH };
  return { isFile: true, isDirectory: false, isSymbolicLink: false, mode: 0o666, size: 0, mtime: EPOCH };
}

// The CLI's history commands (issue 12), run as child processes against a LocalObjectStore directory and
// SeaweedFS: checkpoint / checkpoints / diff / restore / fork, --at for ls, cat, tree and get, gc's
// retention options, their --json shapes, and their exit codes.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cliHarness } from "./helpers/cli.ts";
import { removeDir, tempDir } from "./helpers/targets.ts";

const root = tempDir("cli-history");
afterAll(() => removeDir(root), 120_000);
const { targets, cli, ok, json } = cliHarness(root);

interface CheckpointJson {
  name: string;
  seq: number;
  message?: string;
  timeMs: number;
  time: string;
}
interface ChangeJson {
  path: string;
  change: string;
  fromPath?: string;
  kind: string;
  sizeBefore?: number;
  sizeAfter?: number;
}

describe("cli history: usage", () => {
  const t = targets[0];
  test("the history commands are listed and documented; bad arguments exit 2", async () => {
    if (t === undefined) throw new Error("no target");
    const help = await ok(t, ["--help"]);
    for (const name of ["diff", "checkpoint", "checkpoints", "restore", "fork"]) {
      expect(help.stdout).toContain(`  ${name} `);
      expect((await ok(t, [name, "--help"])).stdout).toContain(`Usage: s3-bun-cached-fs [WORKSPACE] ${name}`);
    }
    for (const name of ["ls", "cat", "tree", "get"]) expect((await ok(t, [name, "--help"])).stdout).toContain("--at SEQ|NAME");
    expect((await ok(t, ["gc", "--help"])).stdout).toContain("--keep-commits N");
    const usage: [string[], RegExp][] = [
      [["-w", "./x", "diff"], /diff: missing argument FROM/],
      [["-w", "./x", "diff", "1", "2", "3"], /too many arguments: 3/],
      [["-w", "./x", "restore"], /restore: missing argument AT/],
      [["-w", "./x", "checkpoint"], /checkpoint: missing argument NAME/],
      [["-w", "./x", "checkpoint", "42"], /digits only/],
      [["-w", "./x", "checkpoint", "--delete", "a", "-m", "x"], /-m goes with making/],
      [["-w", "./x", "stat", "--at", "1", "/"], /Unknown option '--at'/],
      [["-w", "./x", "ls", "--at", "", "/"], /a commit is a seq/],
      [["-w", "./x", "gc", "--keep-commits", "1.5"], /--keep-commits wants/],
      [["-w", "./x", "gc", "--keep-for", "soon"], /--keep-for wants/],
      [["-w", "./x", "fork"], /fork: missing argument PREFIX/],
    ];
    for (const [args, message] of usage) {
      const r = await cli(t, args);
      expect(`${args.join(" ")} -> ${r.code}`).toBe(`${args.join(" ")} -> 2`);
      expect(r.stderr).toMatch(message);
    }
  }, 60_000);
});

for (const t of targets) {
  describe(`cli history on ${t.name}`, () => {
    test("checkpoint, checkpoints, diff, --at for ls/cat/tree/get, restore (paths, whole tree, dry run)", async () => {
      const ws = t.workspace("hist");
      const local = join(root, `src-${t.name}`);
      const put = async (content: string, path: string): Promise<void> => {
        writeFileSync(local, content);
        await ok(t, [ws, "put", local, path, "-q"]);
      };
      await put("plan v1\n", "/docs/plan.md");
      await put("notes\n", "/docs/notes.md");
      const cp = await json<CheckpointJson>(t, [ws, "checkpoint", "before-agent", "-m", "known good"]);
      expect(cp).toMatchObject({ name: "before-agent", seq: 2, message: "known good" });
      expect(new Date(cp.time).getTime()).toBe(cp.timeMs);
      // What an agent run does: edit one file, add another.
      await put("plan v2, longer\n", "/docs/plan.md");
      await put("new\n", "/docs/new.md");
      expect((await ok(t, [ws, "checkpoint", "after"])).stdout).toBe("checkpoint after at seq 4\n");

      // checkpoints: oldest first, text and JSON.
      const list = await json<CheckpointJson[]>(t, [ws, "checkpoints"]);
      expect(list.map((c) => [c.name, c.seq, c.message])).toEqual([
        ["before-agent", 2, "known good"],
        ["after", 4, undefined],
      ]);
      const text = (await ok(t, [ws, "checkpoints"])).stdout.split("\n");
      expect(text[0]).toMatch(/^NAME\s+SEQ\s+TIME\s+MESSAGE$/);
      expect(text[1]).toMatch(/^before-agent\s+2\s+\S+ \S+\s+known good$/);

      // diff: by name, by seq, to the head, restricted to a path.
      expect(await json<ChangeJson[]>(t, [ws, "diff", "before-agent"])).toEqual([
        { path: "/docs/new.md", change: "added", kind: "file", sizeAfter: 4 },
        { path: "/docs/plan.md", change: "modified", kind: "file", sizeBefore: 8, sizeAfter: 16 },
      ]);
      expect((await ok(t, [ws, "diff", "2", "after"])).stdout).toBe("added        /docs/new.md  (4 B)\nmodified     /docs/plan.md  (8 B -> 16 B)\n");
      expect(await json<ChangeJson[]>(t, [ws, "diff", "0", "1", "--path", "/docs"])).toEqual([
        { path: "/docs", change: "added", kind: "directory", sizeAfter: expect.any(Number) },
        { path: "/docs/plan.md", change: "added", kind: "file", sizeAfter: 8 },
      ]);
      expect((await ok(t, [ws, "diff", "after"])).stdout).toBe("no changes\n");

      // --at: the workspace as it was.
      expect((await ok(t, [ws, "cat", "--at", "before-agent", "/docs/plan.md"])).stdout).toBe("plan v1\n");
      expect((await ok(t, [ws, "cat", "--at", "1", "/docs/plan.md"])).stdout).toBe("plan v1\n");
      expect((await ok(t, [ws, "ls", "--at", "before-agent", "/docs"])).stdout).toBe("notes.md\nplan.md\n");
      expect((await ok(t, [ws, "ls", "/docs"])).stdout).toBe("new.md\nnotes.md\nplan.md\n");
      expect((await ok(t, [ws, "tree", "--at", "1"])).stdout).toBe("/\n└── docs\n    └── plan.md\n\n1 directory, 1 file\n");
      const dest = join(root, `plan-before-${t.name}.md`);
      await ok(t, [ws, "get", "--at", "before-agent", "/docs/plan.md", dest, "-q"]);
      expect(readFileSync(dest, "utf8")).toBe("plan v1\n");
      // After a time-travel command, the head mount of the same local state is still at the head.
      expect((await ok(t, [ws, "cat", "/docs/plan.md"])).stdout).toBe("plan v2, longer\n");

      // restore: a dry run changes nothing; paths; the whole tree; all as new commits.
      expect((await ok(t, [ws, "restore", "-n", "before-agent"])).stdout).toBe("deleted      /docs/new.md\nmodified     /docs/plan.md  (16 B -> 8 B)\n");
      expect((await ok(t, [ws, "diff", "after"])).stdout).toBe("no changes\n");
      expect((await ok(t, [ws, "restore", "before-agent", "/docs/plan.md"])).stdout).toBe("restored /docs/plan.md as at before-agent: commit 5\n");
      expect((await ok(t, [ws, "cat", "/docs/plan.md"])).stdout).toBe("plan v1\n");
      expect((await ok(t, [ws, "ls", "/docs"])).stdout).toBe("new.md\nnotes.md\nplan.md\n");
      expect(await json<{ at: string; paths: string[]; seq: number }>(t, [ws, "restore", "before-agent"])).toEqual({ at: "before-agent", paths: ["/"], seq: 6 });
      expect((await ok(t, [ws, "ls", "/docs"])).stdout).toBe("notes.md\nplan.md\n");
      expect((await ok(t, [ws, "diff", "before-agent"])).stdout).toBe("no changes\n");
      // Undo the undo: restore the commit before it.
      await ok(t, [ws, "restore", "after", "-q"]);
      expect((await ok(t, [ws, "ls", "/docs"])).stdout).toBe("new.md\nnotes.md\nplan.md\n");
      expect((await ok(t, [ws, "cat", "/docs/plan.md"])).stdout).toBe("plan v2, longer\n");
    }, 180_000);

    test("exit codes: a taken name 4, unknown checkpoint 3, a commit beyond the head 4; gc retention and --delete", async () => {
      const ws = t.workspace("hist-err");
      const local = join(root, `err-src-${t.name}`);
      writeFileSync(local, "v1");
      await ok(t, [ws, "put", local, "/f", "-q"]);
      await ok(t, [ws, "checkpoint", "cp", "-q"]);
      for (let i = 2; i <= 5; i++) {
        writeFileSync(local, `v${i}`);
        await ok(t, [ws, "put", local, "/f", "-q"]);
      }
      const codes: [string[], number, RegExp][] = [
        [["checkpoint", "cp"], 4, /EEXIST: a checkpoint with this name already exists, checkpoint 'cp'/],
        [["checkpoint", "bad/name"], 4, /EINVAL/],
        [["ls", "--at", "nope", "/"], 3, /ENOENT: no such checkpoint, checkpoint 'nope'/],
        [["cat", "--at", "99", "/f"], 4, /EINVAL: commit 99 is beyond the head \(seq 5\)/],
        [["diff", "nope"], 3, /ENOENT/],
        [["restore", "99"], 4, /EINVAL/],
        [["checkpoint", "--delete", "nope"], 3, /ENOENT: no such checkpoint/],
      ];
      for (const [args, code, message] of codes) {
        const r = await cli(t, [ws, ...args]);
        expect(`${args.join(" ")} -> ${r.code}`).toBe(`${args.join(" ")} -> ${code}`);
        expect(r.stderr).toMatch(message);
      }
      const err = await cli(t, [ws, "ls", "--at", "nope", "/", "--json"]);
      expect(JSON.parse(err.stderr)).toMatchObject({ error: { code: "ENOENT", exitCode: 3 } });

      // gc keeps the checkpoint and the last two commits; everything is still readable there.
      await ok(t, [ws, "gc", "--grace", "0", "--keep-commits", "2", "-q"]);
      for (const [at, body] of [["cp", "v1"], ["3", "v3"], ["4", "v4"], ["5", "v5"]] as const) {
        expect((await ok(t, [ws, "cat", "--at", at, "/f"])).stdout).toBe(body);
      }
      await ok(t, [ws, "gc", "--grace", "0", "--keep-for", "1h", "-q"]);
      expect((await ok(t, [ws, "cat", "--at", "3", "/f"])).stdout).toBe("v3");
      expect(await json<{ name: string; deleted: boolean }>(t, [ws, "checkpoint", "--delete", "cp"])).toEqual({ name: "cp", deleted: true });
      expect((await ok(t, [ws, "checkpoints"])).stdout).toBe("no checkpoints\n");
      expect((await cli(t, [ws, "cat", "--at", "cp", "/f"])).code).toBe(3);
    }, 180_000);

    test("fork: a new workspace beside this one, at the head or --at; both sides then see only their own writes", async () => {
      const ws = t.workspace("fork-src").replace(/\/$/, "");
      const local = join(root, `fork-src-${t.name}`);
      writeFileSync(local, "v1");
      await ok(t, [ws, "put", local, "/f", "-q"]);
      await ok(t, [ws, "checkpoint", "start", "-q"]);
      writeFileSync(local, "v2");
      await ok(t, [ws, "put", local, "/f", "-q"]);
      const name = (suffix: string): string => `${ws.slice(ws.lastIndexOf("/") + 1)}-${suffix}`;
      const sibling = (suffix: string): string => `${ws.slice(0, ws.lastIndexOf("/") + 1)}${name(suffix)}`;

      expect((await ok(t, [ws, "fork", name("head")])).stdout).toBe(`forked ${ws} at seq 2 to ${sibling("head")}\n`);
      const atStart = await json<{ from: string; to: string; fromSeq: number; id: string }>(t, [ws, "fork", "--at", "start", name("start")]);
      expect(atStart).toMatchObject({ from: ws, to: sibling("start"), fromSeq: 1 });
      expect((await ok(t, [sibling("head"), "cat", "/f"])).stdout).toBe("v2");
      expect((await ok(t, [sibling("start"), "cat", "/f"])).stdout).toBe("v1");

      // Each side writes; neither sees the other's writes.
      writeFileSync(local, "fork only");
      await ok(t, [sibling("head"), "put", local, "/g", "-q"]);
      writeFileSync(local, "v3");
      await ok(t, [ws, "put", local, "/f", "-q"]);
      expect((await ok(t, [sibling("head"), "ls", "/"])).stdout).toBe("f\ng\n");
      expect((await ok(t, [sibling("head"), "cat", "/f"])).stdout).toBe("v2");
      expect((await ok(t, [ws, "ls", "/"])).stdout).toBe("f\n");
      // The source's GC keeps what the forks use.
      await ok(t, [ws, "checkpoint", "--delete", "start", "-q"]);
      await ok(t, [ws, "gc", "--grace", "0", "-q"]);
      for (const s of ["head", "start"]) expect((await cli(t, [sibling(s), "fsck", "-q"])).code).toBe(0);
      expect((await ok(t, [sibling("start"), "cat", "/f"])).stdout).toBe("v1");

      const taken = await cli(t, [ws, "fork", name("head")]);
      expect(taken.code).toBe(4);
      expect(taken.stderr).toMatch(/EEXIST/);
    }, 180_000);
  });
}

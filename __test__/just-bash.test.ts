// The just-bash adapter: realistic scripts give the same stdout/stderr/exit code on AcceleratedJustBashFs
// (over LocalObjectStore and SeaweedFS) as on just-bash's own InMemoryFs; one commit per exec; command
// lookups and /dev never reach the store; paths never reach the host; readers see writes after refresh.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Bash, InMemoryFs } from "just-bash";
import { S3CachedFsManagerImpl, type CachedFs, type ObjectStore } from "../js/core.ts";
import { AcceleratedJustBashFs, createAcceleratedJustBashShell, normalizeVirtualPath, resolveVirtualPath } from "../js/just-bash.ts";
import { removeDir, storeTargets, tempDir } from "./helpers/targets.ts";

const root = tempDir("just-bash");
afterAll(() => removeDir(root));

let n = 0;
function fixture(store: ObjectStore) {
  const manager = new S3CachedFsManagerImpl({ cacheRoot: join(root, `cache-${++n}`) });
  const mount = (name: string, mode: "readwrite" | "readonly"): Promise<CachedFs> => manager.mount({ name, mode, cacheBytes: 64 << 20, store });
  return { manager, mount };
}

const CWD = "/work";

/** The scripts, run in order on both shells (the filesystem persists between them). */
const SCRIPTS: string[] = [
  "mkdir -p src/lib docs && echo 'alpha' > src/a.txt && echo 'beta' >> src/a.txt && printf 'x\\ny\\nz\\n' > src/lib/b.txt && cat src/a.txt src/lib/b.txt",
  "cat > docs/notes.md <<'EOF'\n# Notes\nTODO: write tests\ndone: parser\nTODO: fix the lexer\nEOF\nwc -l docs/notes.md && grep -c TODO docs/notes.md",
  "grep -rn TODO . | sort",
  "grep -r -l 'a' src | sort; grep -rn nomatch .; echo \"grep exit=$?\"",
  "sed -i 's/TODO/DONE/g' docs/notes.md && cat docs/notes.md && grep -c DONE docs/notes.md",
  "sort -r src/a.txt; cat src/a.txt src/lib/b.txt | sort | uniq -c | sort -rn | head -3",
  "cat src/*.txt | wc -c; wc -l src/a.txt src/lib/b.txt",
  "cat src/a.txt | tr a-z A-Z | sort | head -1 && echo one two three | awk '{print $2}'",
  "find . -type f | sort; find . -name '*.txt' | sort; find . -type d | sort",
  "cp -r src backup && find backup | sort && cp docs/notes.md backup/ && ls backup",
  "mv backup/a.txt backup/renamed.txt && ls backup && mv backup archive && ls && ls archive/lib",
  "rm -rf archive && ls; test -e archive || echo gone",
  "ls -la src",
  "ls -l src/lib docs",
  "touch empty.txt && ls -l empty.txt && wc -c empty.txt",
  "for f in src/a.txt src/lib/b.txt; do echo \"$f: $(wc -l < $f)\"; done",
  "find . -name '*.txt' | sort | xargs wc -l",
  "echo data > /dev/null && echo discarded 2>/dev/null && cat /dev/null && echo ok",
  "cat missing.txt; echo \"exit=$?\"",
  "mkdir src; echo \"mkdir exit=$?\"; rmdir src; echo \"rmdir exit=$?\"; rm src; echo \"rm exit=$?\"",
  "ls nope; echo \"ls exit=$?\"; cd nope; echo \"cd exit=$?\"",
  "ln -s src/a.txt link.txt && cat link.txt && readlink link.txt && ls -l link.txt | cut -c1",
  "chmod 755 src/a.txt && ls -l src/a.txt | cut -d' ' -f1 && test -x src/a.txt && echo executable",
  "cd .. && pwd && cd / && cd ../.. && pwd && cd ../../work/./src/.. && pwd && ls",
  "echo \"$(head -1 src/a.txt)\" | base64 && printf 'abc' | base64 -d 2>/dev/null; echo",
  "mkdir -p deep/a/b/c && echo leaf > deep/a/b/c/leaf.txt && rm -r deep/a/b && find deep | sort",
  "echo first > out.txt; echo second > out.txt; cat out.txt; echo third >> out.txt; cat out.txt",
  "x=$(ls src | wc -l); if [ \"$x\" -gt 1 ]; then echo many; else echo few; fi",
  "cat src/a.txt | while read line; do echo \"<$line>\"; done",
  "diff src/a.txt src/lib/b.txt; echo \"diff exit=$?\"",
  "which ls cat; type grep; command -v sed",
  "cd / && cat /etc/passwd; echo \"exit=$?\"; ls /etc 2>&1; echo done",
  // Issue 14: scripts installed under /usr/bin and /bin run by name; hard links; /dev/fd after a process
  // substitution; a NUL in a path.
  "printf '#!/bin/bash\\necho hello from $0\\n' > /usr/bin/greet && chmod +x /usr/bin/greet && greet && which greet && type greet",
  "printf '#!/bin/bash\\necho hi \"$@\"\\n' > /bin/hi && chmod +x /bin/hi && hi there; which ls; ls /usr/bin/greet",
  "echo a > hard.txt && ln hard.txt hard2.txt && test hard.txt -ef hard2.txt && echo same && cat hard2.txt && ls -l hard2.txt | cut -c1-12",
  "test hard.txt -ef hard2.txt && echo still; echo more >> hard2.txt; test hard.txt -ef hard2.txt || echo different-now; cat hard.txt hard2.txt; ln missing.txt x; echo \"ln exit=$?\"",
  "cat <(echo sub); echo x > /dev/fd/5; echo rc=$?; cat /dev/fd/5; ls /dev/fd",
  "touch \"$(printf 'a\\0b')\"; echo \"touch exit=$?\"; test -d /dev && ls /dev",
  "rm -rf src docs link.txt out.txt empty.txt deep hard.txt hard2.txt && ls -A && echo empty",
];

/** What legitimately differs between the filesystems: modification dates (the engine keeps its own clock). */
function normalise(text: string): string {
  return text.replace(/\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d (\d\d:\d\d| \d{4})/g, "<date>");
}

for (const target of storeTargets(root, ["seaweedfs"])) {
  describe(`just-bash adapter on ${target.name}`, () => {
    test("realistic scripts: same stdout, stderr and exit code as just-bash's InMemoryFs", async () => {
      const { manager, mount } = fixture(await target.open("differential"));
      const fs = await mount("w", "readwrite");
      const ours = await createAcceleratedJustBashShell({ filesystem: fs, cwd: CWD });
      const reference = new Bash({ fs: new InMemoryFs(), cwd: CWD, defenseInDepth: false });
      for (const script of SCRIPTS) {
        const want = await reference.exec(script);
        const got = await ours.exec(script);
        const shape = (r: { stdout: string; stderr: string; exitCode: number }) => ({
          script,
          stdout: normalise(r.stdout),
          stderr: normalise(r.stderr),
          exitCode: r.exitCode,
        });
        expect(shape(got)).toEqual(shape(want));
      }
      // The scripts did real work: they were not all no-ops on an empty tree.
      expect(fs.stats().commits).toBeGreaterThan(10);
      await manager.close();
    }, 60_000);

    test("the workspace is the root: host paths are never read", async () => {
      expect(existsSync("/etc/passwd")).toBe(true);
      const hostPasswd = readFileSync("/etc/passwd", "utf8");
      const { manager, mount } = fixture(await target.open("host"));
      const fs = await mount("w", "readwrite");
      const shell = await createAcceleratedJustBashShell({ filesystem: fs, cwd: CWD });
      const outside = await shell.exec("cd / && cat /etc/passwd; cat ../../../etc/passwd; ls /etc; cat /proc/self/status");
      expect(outside.stdout).toBe("");
      expect(outside.stderr).toContain("/etc/passwd: No such file or directory");
      expect(outside.stdout + outside.stderr).not.toContain(hostPasswd.split("\n")[0] ?? "root:");
      expect(outside.exitCode).not.toBe(0);
      // The workspace's own /etc/passwd is what a script sees.
      await fs.mkdir("/etc");
      await fs.writeFile("/etc/passwd", "workspace:x:0:0\n");
      expect((await shell.exec("cd / && cat /etc/passwd && cat ../../../../etc/passwd")).stdout).toBe("workspace:x:0:0\nworkspace:x:0:0\n");
      // Writes land in the workspace, whatever `..` says.
      await shell.exec("cd / && cd ../../.. && echo escaped > ../../tmp-escape.txt");
      expect(await fs.readText("/tmp-escape.txt")).toBe("escaped\n");
      expect(existsSync("/tmp-escape.txt")).toBe(false);
      await manager.close();
    });

    test("one commit per exec; command lookups and /dev never reach the store", async () => {
      const { manager, mount } = fixture(await target.open("commits"));
      const fs = await mount("w", "readwrite");
      const shell = await createAcceleratedJustBashShell({ filesystem: fs, cwd: CWD });
      expect(await fs.exists(CWD)).toBe(true);

      fs.resetStats();
      let commits = fs.stats().commits;
      const r = await shell.exec(
        "mkdir -p a/b && for i in 1 2 3 4 5; do echo line$i > a/b/f$i.txt; done && echo x >> a/b/f1.txt && cp -r a c && mv c d && rm d/b/f2.txt && sed -i 's/line/LINE/' a/b/f3.txt",
      );
      expect(r.exitCode).toBe(0);
      expect(fs.stats().commits - commits).toBe(1);
      // One WAL record + one head, plus the pack of bodies.
      expect(fs.stats().requests.put).toBeLessThanOrEqual(3);
      expect(await fs.readText("/work/a/b/f3.txt")).toBe("LINE3\n");
      expect(await fs.readText("/work/d/b/f1.txt")).toBe("line1\nx\n");
      expect(await fs.exists("/work/d/b/f2.txt")).toBe(false);

      // A failing script still commits what it wrote (that is what a shell does).
      commits = fs.stats().commits;
      const failed = await shell.exec("echo kept > kept.txt; cat no-such-file; exit 3");
      expect(failed.exitCode).toBe(3);
      expect(fs.stats().commits - commits).toBe(1);
      expect(await fs.readText("/work/kept.txt")).toBe("kept\n");

      // Lookups, reads of cached files, /dev/null: no request at all, and no commit.
      fs.resetStats();
      commits = fs.stats().commits;
      const lookups = await shell.exec(
        "echo hi; true; pwd; ls; type cat; which ls; command -v grep; echo a | grep a | wc -l; cat a/b/f1.txt; echo gone > /dev/null; cat /dev/null; ls /dev; nosuchcommand; echo $?",
      );
      expect(lookups.stdout).toContain("/usr/bin/ls\n");
      expect(lookups.stderr).toContain("nosuchcommand: command not found");
      expect(fs.stats().commits).toBe(commits);
      expect(fs.stats().requests).toMatchObject({ get: 0, put: 0, head: 0, list: 0 });
      // Nothing reserved leaked into the workspace.
      for (const p of ["/bin", "/usr", "/dev", "/proc"]) expect(fs.existsSync(p)).toBe(false);
      await manager.close();
    });

    test("ls / and find / show /dev; a script installed in /usr/bin runs by name, and lookups still cost no request", async () => {
      const { manager, mount } = fixture(await target.open("root-listing"));
      const fs = await mount("w", "readwrite");
      const shell = await createAcceleratedJustBashShell({ filesystem: fs, cwd: CWD });
      // Unlike InMemoryFs, no /bin, /usr or /proc of stubs: the root is the workspace plus /dev.
      expect(await shell.exec("ls /; find / -maxdepth 1 | sort; test -d /dev && echo dev-is-a-directory")).toMatchObject({
        stdout: "dev\nwork\n/\n/dev\n/work\ndev-is-a-directory\n",
        exitCode: 0,
      });
      expect((await shell.exec("find /dev | sort")).stdout).toBe("/dev\n/dev/fd\n/dev/null\n/dev/stderr\n/dev/stdin\n/dev/stdout\n/dev/zero\n");
      const install = await shell.exec("mkdir -p /usr/bin && printf '#!/bin/bash\\necho \"tool: $1\"\\n' > /usr/bin/tool && chmod +x /usr/bin/tool && ls /");
      expect(install).toMatchObject({ stdout: "dev\nusr\nwork\n", exitCode: 0, committed: true });
      fs.resetStats();
      const commits = fs.stats().commits;
      const used = await shell.exec("tool one; which tool; ls /usr/bin; which cat; echo hi | cat; nosuch 2>/dev/null; echo $?");
      expect(used).toMatchObject({ stdout: "tool: one\n/usr/bin/tool\ntool\n/usr/bin/cat\nhi\n127\n", exitCode: 0 });
      expect(fs.stats().commits).toBe(commits);
      expect(fs.stats().requests).toMatchObject({ get: 0, put: 0, head: 0, list: 0 });
      await manager.close();
    });

    test("transactionPerExec: false commits each write on its own", async () => {
      const { manager, mount } = fixture(await target.open("per-write"));
      const fs = await mount("w", "readwrite");
      const script = "mkdir -p a && echo 1 > a/one && echo 2 > a/two && echo 3 >> a/two";
      const perExec = await createAcceleratedJustBashShell({ filesystem: fs, cwd: "/x" });
      const perWrite = await createAcceleratedJustBashShell({ filesystem: fs, cwd: "/y", transactionPerExec: false });
      expect(perWrite.transactionPerExec).toBe(false);
      let commits = fs.stats().commits;
      await perExec.exec(script);
      const oneTx = fs.stats().commits - commits;
      commits = fs.stats().commits;
      await perWrite.exec(script);
      const many = fs.stats().commits - commits;
      expect(oneTx).toBe(1);
      // mkdir, then `>` as truncate + write twice, then `>>`: at least five.
      expect(many).toBeGreaterThanOrEqual(5);
      expect(await fs.readText("/y/a/two")).toBe("2\n3\n");
      expect(await fs.readText("/x/a/two")).toBe("2\n3\n");
      await manager.close();
    });

    test("a failed output redirect is stderr and exit 1, not a throw; what the script wrote before it is committed", async () => {
      const { manager, mount } = fixture(await target.open("redirect"));
      const fs = await mount("w", "readwrite");
      const shell = await createAcceleratedJustBashShell({ filesystem: fs, cwd: "/" });
      await fs.writeFile("/file", "a file");
      const seq = fs.seq;
      for (const [script, target] of [
        ["echo before > before.txt; echo x > /dev/foo; echo never > never.txt", "/dev/foo"],
        ["echo y > /file/under", "/file/under"],
      ] as const) {
        const r = await shell.exec(script);
        expect(r.exitCode).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`^bash: ${target}: (Read-only file system|Not a directory)\n$`));
        expect(r.committed).toBe(true);
      }
      expect(await fs.readText("/before.txt")).toBe("before\n");
      expect(fs.existsSync("/never.txt")).toBe(false);
      expect(fs.seq).toBe(seq + 1); // the first script's write; the second wrote nothing
      await manager.close();
    });

    test("a readonly mount sees an exec's writes only after refresh; its own shell cannot write", async () => {
      const store = await target.open("reader");
      const writer = fixture(store);
      const reader = fixture(store);
      const w = await writer.mount("w", "readwrite");
      const shell = await createAcceleratedJustBashShell({ filesystem: w, cwd: "/proj" });
      const r = await reader.mount("r", "readonly");
      const readShell = await createAcceleratedJustBashShell({ filesystem: r, cwd: "/proj" });

      await shell.exec("mkdir -p out && seq 1 50 > out/numbers.txt && echo report > out/report.md");
      expect((await readShell.exec("cat /proj/out/report.md; echo $?")).stdout).toBe("1\n");
      expect(r.existsSync("/proj/out")).toBe(false);
      expect((await r.refresh()).outcome).toBe("advanced");
      const seen = await readShell.exec("cat out/report.md && wc -l < out/numbers.txt && tail -1 out/numbers.txt");
      expect(seen.stdout).toBe("report\n50\n50\n");

      const denied = await readShell.exec("mkdir nd; echo $?; rm out/report.md; echo $?");
      expect(denied.stdout).toBe("1\n1\n");
      expect(denied.stderr).toContain("EROFS");
      // just-bash rethrows a failed output redirect out of exec; the shell reports it as bash would.
      expect(await readShell.exec("echo x > out/new.txt")).toMatchObject({ stdout: "", stderr: "bash: /proj/out/new.txt: Read-only file system\n", exitCode: 1 });
      expect(r.existsSync("/proj/out/new.txt")).toBe(false);
      await writer.manager.close();
      await reader.manager.close();
    });
  });
}

describe("AcceleratedJustBashFs (LocalObjectStore)", () => {
  const local = storeTargets(root, [])[0];
  if (local === undefined) throw new Error("no LocalObjectStore target");

  test("resolvePath is pure and never climbs above the root", () => {
    expect(resolveVirtualPath("/a/b", "../c")).toBe("/a/c");
    expect(resolveVirtualPath("/", "../../x/./y/")).toBe("/x/y");
    expect(resolveVirtualPath("/a", "/b/../../c")).toBe("/c");
    expect(normalizeVirtualPath("")).toBe("/");
    expect(normalizeVirtualPath("a//b/")).toBe("/a/b");
  });

  test("the IFileSystem surface: encodings, stats, errors, reserved paths", async () => {
    const { manager, mount } = fixture(await local.open("surface"));
    const cached = await mount("w", "readwrite");
    const fs = new AcceleratedJustBashFs(cached);
    // No sync writers: just-bash would otherwise write /bin, /dev and /proc into the store.
    expect("mkdirSync" in fs).toBe(false);
    expect("writeFileSync" in fs).toBe(false);

    await fs.writeFile("/d/e/t.txt", "héllo");
    expect(await fs.readFile("/d/e/t.txt")).toBe("héllo");
    expect(await fs.readFile("/d/e/t.txt", "base64")).toBe(Buffer.from("héllo").toString("base64"));
    expect(await fs.readFile("/d/e/t.txt", { encoding: "hex" })).toBe(Buffer.from("héllo").toString("hex"));
    expect(String(await fs.readFileBytes("/d/e/t.txt"))).toBe(Buffer.from("héllo").toString("latin1"));
    await fs.writeFile("/bin.dat", "AAEC/w==", "base64");
    expect([...(await fs.readFileBuffer("/bin.dat"))]).toEqual([0, 1, 2, 255]);
    await fs.writeFile("/latin.dat", "\u00ff\u0000", { encoding: "binary" });
    expect([...(await fs.readFileBuffer("/latin.dat"))]).toEqual([255, 0]);
    await fs.appendFile("/new/dir/app.txt", "a");
    await fs.appendFile("/new/dir/app.txt", "6263", "hex");
    expect(await fs.readFile("/new/dir/app.txt")).toBe("abc");

    const st = await fs.stat("/d/e/t.txt");
    expect(st).toMatchObject({ isFile: true, isDirectory: false, isSymbolicLink: false, mode: 0o644, size: 6 });
    expect(st.mtime).toBeInstanceOf(Date);
    expect(Math.abs(st.mtime.getTime() - Date.now())).toBeLessThan(60_000);
    expect(Object.keys(st).sort()).toEqual(["identity", "ino", "isDirectory", "isFile", "isSymbolicLink", "mode", "mtime", "size"]);
    await fs.symlink("e/t.txt", "/d/link");
    expect((await fs.lstat("/d/link")).isSymbolicLink).toBe(true);
    expect((await fs.stat("/d/link")).isFile).toBe(true);
    expect(await fs.readlink("/d/link")).toBe("e/t.txt");
    expect(await fs.realpath("/d/link")).toBe("/d/e/t.txt");
    expect(await fs.readdirWithFileTypes("/d")).toEqual([
      { name: "e", isFile: false, isDirectory: true, isSymbolicLink: false },
      { name: "link", isFile: false, isDirectory: false, isSymbolicLink: true },
    ]);
    expect(fs.getAllPaths().sort()).toEqual(["/", "/bin.dat", "/d", "/d/e", "/d/e/t.txt", "/d/link", "/latin.dat", "/new", "/new/dir", "/new/dir/app.txt"]);
    await fs.chmod("/d/e/t.txt", 0o600);
    expect((await fs.stat("/d/e/t.txt")).mode).toBe(0o600);
    const when = new Date("2021-02-03T04:05:06Z");
    await fs.utimes("/d/e/t.txt", when, when);
    expect((await fs.stat("/d/e/t.txt")).mtime.getTime()).toBe(when.getTime());
    await fs.cp("/d/link", "/copied-link");
    expect(await fs.readlink("/copied-link")).toBe("e/t.txt");
    await fs.cp("/d", "/x/y/d2", { recursive: true });
    expect(await fs.readFile("/x/y/d2/e/t.txt")).toBe("héllo");
    await fs.mv("/x/y/d2", "/z/moved");
    expect(await fs.exists("/x/y/d2")).toBe(false);
    await fs.mkdir("/empty");
    await fs.rm("/empty");
    expect(await fs.exists("/empty")).toBe(false);

    const messageOf = async (p: Promise<unknown>): Promise<string> => {
      const e = await p.then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(Error);
      return (e as Error).message;
    };
    expect(await messageOf(fs.stat("/nope"))).toBe("ENOENT: no such file or directory, stat '/nope'");
    expect(await messageOf(fs.readFile("/nope"))).toStartWith("ENOENT: no such file or directory, open '/nope'");
    expect(await messageOf(fs.readdir("/d/e/t.txt"))).toBe("ENOTDIR: not a directory, scandir '/d/e/t.txt'");
    expect(await messageOf(fs.mkdir("/d"))).toStartWith("EEXIST: ");
    expect(await messageOf(fs.rm("/d"))).toBe("ENOTEMPTY: directory not empty, rm '/d'");
    expect(await messageOf(fs.rm("/nope"))).toBe("ENOENT: no such file or directory, rm '/nope'");
    await fs.rm("/nope", { force: true });
    expect(await messageOf(fs.cp("/d", "/d3"))).toStartWith("EISDIR: ");
    // Hard links: a copy that stat identity (what `test -ef` compares) takes for its source.
    await fs.link("/d/e/t.txt", "/hard");
    expect(await fs.readFile("/hard")).toBe("héllo");
    expect((await fs.stat("/hard")).identity).toBe((await fs.stat("/d/e/t.txt")).identity);
    expect(await messageOf(fs.link("/d/e/t.txt", "/hard"))).toBe("EEXIST: file already exists, link '/hard'");
    expect(await messageOf(fs.link("/d", "/hard-dir"))).toBe("EPERM: operation not permitted, link '/d'");
    expect(await messageOf(fs.link("/nope", "/hard2"))).toBe("ENOENT: no such file or directory, link '/nope'");
    await fs.rm("/hard");
    // A NUL in a path: as just-bash's own filesystems say it.
    expect(await fs.exists("/a\0b")).toBe(false);
    expect(await messageOf(fs.writeFile("/a\0b", "x"))).toBe("ENOENT: path contains null byte, write '/a\0b'");
    expect(await messageOf(fs.stat("/a\0b"))).toBe("ENOENT: path contains null byte, stat '/a\0b'");
    // /bin and /usr/bin: registered commands are stubs; anything else there is the workspace's.
    expect(await fs.exists("/usr/bin")).toBe(false);
    expect(await fs.exists("/bin/ls")).toBe(false); // no shell registered commands on this fs
    fs.setCommandNames(["ls"]);
    expect(await fs.exists("/bin/ls")).toBe(true);
    expect((await fs.stat("/usr/bin/ls")).mode & 0o111).toBe(0);
    expect(await fs.exists("/usr/bin/nope")).toBe(false);
    expect(await messageOf(fs.rm("/usr/bin/ls"))).toBe("EPERM: operation not permitted, rm '/usr/bin/ls'");
    await fs.writeFile("/usr/bin/tool", "#!/bin/bash\necho tool\n");
    await fs.chmod("/usr/bin/tool", 0o755);
    expect((await fs.stat("/usr/bin/tool")).mode).toBe(0o755);
    expect(await fs.readdir("/usr/bin")).toEqual(["tool"]);
    expect(await fs.exists("/usr/bin/ls")).toBe(true);
    await fs.rm("/usr", { recursive: true });

    // /dev/null: writes discarded, reads empty, nothing stored.
    const seq = cached.seq;
    await fs.writeFile("/dev/null", "gone");
    await fs.appendFile("/dev/null", "gone");
    expect(await fs.readFile("/dev/null")).toBe("");
    expect((await fs.stat("/dev/null")).size).toBe(0);
    expect(await fs.readdir("/dev")).toEqual(["fd", "null", "stderr", "stdin", "stdout", "zero"]);
    expect(await fs.readdir("/")).toContain("dev");
    // /dev/fd/<n>: files of this view, in memory (process substitution), never stored.
    await fs.writeFile("/dev/fd/63", "x");
    await fs.appendFile("/dev/fd/63", "y");
    expect(await fs.readFile("/dev/fd/63")).toBe("xy");
    expect(await fs.readdir("/dev/fd")).toEqual(["63"]);
    expect(await fs.view().exists("/dev/fd/63")).toBe(false);
    await fs.rm("/dev/fd/63");
    expect(await fs.exists("/dev/fd/63")).toBe(false);
    expect(await messageOf(fs.writeFile("/dev/other", "x"))).toBe("EROFS: read-only file system, open '/dev/other'");
    expect(cached.seq).toBe(seq);

    const ro = await mount("r", "readonly");
    const rofs = new AcceleratedJustBashFs(ro);
    expect(await rofs.readFile("/d/e/t.txt")).toBe("héllo");
    expect(await messageOf(rofs.writeFile("/w.txt", "x"))).toBe("EROFS: read-only file system, open '/w.txt'");
    expect(await messageOf(rofs.rm("/d", { recursive: true }))).toBe("EROFS: read-only file system, rm '/d'");
    expect(await rofs.exists("/d")).toBe(true);
    await manager.close();
  });

  test("a view bound to a transaction: its calls go there, the shared filesystem's go to the mount", async () => {
    const { manager, mount } = fixture(await local.open("bound"));
    const cached = await mount("w", "readwrite");
    const fs = new AcceleratedJustBashFs(cached);
    fs.setCommandNames(["ls"]);
    const commits = cached.stats().commits;
    let view: AcceleratedJustBashFs | undefined;
    await cached.transaction(async (tx) => {
      view = fs.view(tx);
      expect(view.transaction).toBe(tx);
      expect(fs.transaction).toBeUndefined();
      // Views share the command names.
      expect(await view.exists("/bin/ls")).toBe(true);
      await view.writeFile("/t/a.txt", "a");
      await view.appendFile("/t/a.txt", "b");
      await view.cp("/t/a.txt", "/t/b.txt");
      expect(await view.readFile("/t/b.txt")).toBe("ab");
      expect(cached.existsSync("/t")).toBe(false);
      expect(await fs.exists("/t/a.txt")).toBe(false);
      // Left running when the callback returns: settled before the commit.
      void view.writeFile("/t/late.txt", "late");
      await view.settle();
    });
    expect(cached.stats().commits - commits).toBe(1);
    expect(await fs.readFile("/t/late.txt")).toBe("late");
    expect(await fs.readFile("/t/b.txt")).toBe("ab");
    // A shell exec can join a transaction of the caller's: the caller's commit decides.
    const shell = await createAcceleratedJustBashShell({ filesystem: fs, cwd: "/t" });
    const seq = cached.seq;
    await cached.transaction(async (tx) => {
      const r = await shell.exec("echo joined > joined.txt; cat a.txt", { transaction: tx });
      expect(r).toMatchObject({ stdout: "ab", exitCode: 0, committed: false });
      expect(tx.existsSync("/t/joined.txt")).toBe(true);
      expect(cached.existsSync("/t/joined.txt")).toBe(false);
    });
    expect(cached.seq).toBe(seq + 1);
    expect(await cached.readText("/t/joined.txt")).toBe("joined\n");
    await manager.close();
  });

  test("getAllPaths after indexPaths: the listing plus the view's own changes, as a synchronous walk sees them", async () => {
    const { manager, mount } = fixture(await local.open("index"));
    const cached = await mount("w", "readwrite");
    const fs = new AcceleratedJustBashFs(cached);
    for (const p of ["/a/x.txt", "/a/b/y.txt", "/c/z.md", "/d/e/f/g.txt"]) await fs.writeFile(p, p);
    const walk = (v: AcceleratedJustBashFs | CachedFs): string[] => {
      const names = (v instanceof AcceleratedJustBashFs ? v.filesystem : v).readdirSync("/", { recursive: true });
      return ["/", ...names.map((n) => `/${n}`)].sort();
    };
    await cached.transaction(async (tx) => {
      const view = fs.view(tx);
      await view.indexPaths();
      expect(view.getAllPaths().sort()).toEqual(walk(cached));
      await view.mkdir("/new/deep/er", { recursive: true });
      await view.writeFile("/a/b/w.txt", "w");
      await view.rm("/d", { recursive: true, force: true });
      await view.mv("/c", "/moved/c");
      await view.cp("/a", "/a2", { recursive: true });
      await view.symlink("a/x.txt", "/link");
      const expected = ["/", ...tx.readdirSync("/", { recursive: true }).map((n) => `/${n}`)].sort();
      expect(expected).toContain("/new/deep/er");
      expect(expected).toContain("/a2/b/w.txt");
      expect(expected).not.toContain("/d/e");
      expect(view.getAllPaths().sort()).toEqual(expected);
      // Without an index, the synchronous walk of the view says the same.
      expect(fs.view(tx).getAllPaths().sort()).toEqual(expected);
    });
    // In a shell: `ls` with a glob argument left in it reads getAllPaths, including the script's own new files.
    const shell = await createAcceleratedJustBashShell({ filesystem: fs, cwd: "/a" });
    const r = await shell.exec("touch fresh.txt; ls '*.txt'");
    expect(r.stdout.split("\n").filter((l) => l !== "").sort()).toEqual(["fresh.txt", "x.txt"]);
    await manager.close();
  });

  test("importing the module does not load just-bash; defense-in-depth is refused under Bun", async () => {
    const probe = Bun.spawnSync({
      cmd: [process.execPath, "-e", `await import(${JSON.stringify(join(import.meta.dir, "../js/just-bash.ts"))}); console.log(Object.keys(require.cache).some((k) => k.includes("/node_modules/just-bash/")))`],
      cwd: join(import.meta.dir, ".."),
    });
    expect(probe.stderr.toString()).toBe("");
    expect(probe.stdout.toString().trim()).toBe("false");
    const { manager, mount } = fixture(await local.open("defense"));
    const fs = await mount("w", "readwrite");
    await expect(createAcceleratedJustBashShell({ filesystem: fs, defenseInDepth: true })).rejects.toThrow(/defense-in-depth/);
    await manager.close();
  });
});

// The Node.js binaries the Node tests run on: the machine's `node` (when it is >= 20) and Node 22, which
// the npm registry serves as the `node` package. Node 22 is installed once into the test cache
// (`${S3FS_CACHE_DIR:-~/.cache/s3-bun-cached-fs}/node22`, about 5 s and 185 MB); when that cannot be done
// (offline) the tests run on the machine's Node alone, with a warning (a failure with CI=true).
import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export interface NodeBinary {
  path: string;
  major: number;
  version: string;
}

const NODE22_SPEC = "node@22";

function describe(path: string): NodeBinary | undefined {
  const r = Bun.spawnSync([path, "--version"]);
  if (r.exitCode !== 0) return undefined;
  const version = r.stdout.toString().trim();
  const major = Number(/^v(\d+)\./.exec(version)?.[1] ?? 0);
  return { path, major, version };
}

function node22(): NodeBinary | undefined {
  const dir = join(process.env.S3FS_CACHE_DIR ?? join(homedir(), ".cache", "s3-bun-cached-fs"), "node22");
  const bin = join(dir, "node_modules", ".bin", "node");
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const r = Bun.spawnSync(["npm", "install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund", "--no-package-lock", NODE22_SPEC], { timeout: 180_000 });
    if (r.exitCode !== 0) {
      const why = `could not install ${NODE22_SPEC} from the npm registry: ${r.stderr.toString().trim().split("\n").slice(-3).join(" ")}`;
      if (process.env.CI === "true" || process.env.CI === "1") throw new Error(why);
      console.warn(`[node] ${why}; the Node tests run on the machine's Node only`);
      return undefined;
    }
  }
  const found = describe(bin);
  return found?.major === 22 ? found : undefined;
}

let cached: Promise<NodeBinary[]> | undefined;

/** The machine's Node (>= 20) and Node 22, each once. */
export function nodeBinaries(): Promise<NodeBinary[]> {
  cached ??= (async () => {
    const out: NodeBinary[] = [];
    const system = Bun.which("node");
    const own = system === null ? undefined : describe(system);
    if (own !== undefined && own.major >= 20) out.push(own);
    if (own?.major !== 22) {
      const n22 = node22();
      if (n22 !== undefined) out.push(n22);
    }
    return out;
  })();
  return cached;
}

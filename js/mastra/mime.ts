// Extensions: MIME types for `stat` (read_file picks media vs text from it) and the text test for grep.
import { posix } from "node:path";

const MIME_BY_EXTENSION: Readonly<Record<string, string>> = (() => {
  const groups: [string, string[]][] = [
    ["text/plain", ["txt", "text", "log", "ini", "cfg", "conf", "env", "properties", "rst", "adoc"]],
    ["text/markdown", ["md", "markdown", "mdx"]],
    ["text/html", ["html", "htm"]],
    ["text/css", ["css"]],
    ["text/csv", ["csv"]],
    ["text/tab-separated-values", ["tsv"]],
    ["text/yaml", ["yaml", "yml"]],
    ["text/toml", ["toml"]],
    ["text/x-python", ["py", "pyi"]],
    ["text/x-ruby", ["rb"]],
    ["text/x-go", ["go"]],
    ["text/x-rust", ["rs"]],
    ["text/x-java", ["java"]],
    ["text/x-kotlin", ["kt", "kts"]],
    ["text/x-swift", ["swift"]],
    ["text/x-c", ["c", "h"]],
    ["text/x-c++", ["cc", "cpp", "cxx", "hh", "hpp", "hxx"]],
    ["text/x-csharp", ["cs"]],
    ["text/x-sh", ["sh", "bash", "zsh", "fish"]],
    ["text/x-sql", ["sql"]],
    ["text/x-lua", ["lua"]],
    ["text/x-r", ["r"]],
    ["text/x-scss", ["scss"]],
    ["text/x-sass", ["sass"]],
    ["text/x-less", ["less"]],
    ["text/x-vue", ["vue"]],
    ["text/x-svelte", ["svelte"]],
    ["text/x-terraform", ["tf", "tfvars"]],
    ["application/javascript", ["js", "mjs", "cjs", "jsx"]],
    ["application/typescript", ["ts", "mts", "cts", "tsx"]],
    ["application/json", ["json", "jsonc", "json5", "map"]],
    ["application/jsonl", ["jsonl", "ndjson"]],
    ["application/xml", ["xml", "xsd", "xsl", "plist"]],
    ["application/graphql", ["graphql", "gql"]],
    ["application/x-php", ["php"]],
    ["application/dart", ["dart"]],
    ["image/png", ["png"]],
    ["image/jpeg", ["jpg", "jpeg"]],
    ["image/gif", ["gif"]],
    ["image/webp", ["webp"]],
    ["image/svg+xml", ["svg"]],
    ["image/bmp", ["bmp"]],
    ["image/tiff", ["tif", "tiff"]],
    ["image/x-icon", ["ico"]],
    ["image/avif", ["avif"]],
    ["image/heic", ["heic"]],
    ["image/heif", ["heif"]],
    ["application/pdf", ["pdf"]],
    ["audio/mpeg", ["mp3"]],
    ["audio/wav", ["wav"]],
    ["audio/ogg", ["ogg", "oga"]],
    ["audio/flac", ["flac"]],
    ["audio/aac", ["aac"]],
    ["audio/mp4", ["m4a"]],
    ["video/mp4", ["mp4", "m4v"]],
    ["video/webm", ["webm"]],
    ["video/quicktime", ["mov"]],
    ["video/x-msvideo", ["avi"]],
    ["video/x-matroska", ["mkv"]],
    ["application/zip", ["zip"]],
    ["application/gzip", ["gz", "tgz"]],
    ["application/x-tar", ["tar"]],
    ["application/x-bzip2", ["bz2"]],
    ["application/x-xz", ["xz"]],
    ["application/zstd", ["zst"]],
    ["application/x-7z-compressed", ["7z"]],
    ["application/vnd.rar", ["rar"]],
    ["application/wasm", ["wasm"]],
    ["application/x-sqlite3", ["sqlite", "sqlite3", "db"]],
    ["application/x-parquet", ["parquet"]],
    ["application/x-sharedlib", ["so", "dylib"]],
    ["application/vnd.microsoft.portable-executable", ["exe", "dll"]],
    ["application/x-binary", ["bin", "dat"]],
    ["application/msword", ["doc"]],
    ["application/vnd.openxmlformats-officedocument.wordprocessingml.document", ["docx"]],
    ["application/vnd.ms-excel", ["xls"]],
    ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ["xlsx"]],
    ["application/vnd.ms-powerpoint", ["ppt"]],
    ["application/vnd.openxmlformats-officedocument.presentationml.presentation", ["pptx"]],
    ["font/ttf", ["ttf"]],
    ["font/otf", ["otf"]],
    ["font/woff", ["woff"]],
    ["font/woff2", ["woff2"]],
  ];
  const table: Record<string, string> = Object.create(null);
  for (const [type, extensions] of groups) for (const ext of extensions) table[ext] = type;
  return table;
})();

/** The MIME type for a file name by its extension; `application/octet-stream` when unknown. */
export function mimeTypeFor(name: string): string {
  const ext = posix.extname(name).slice(1).toLowerCase();
  return MIME_BY_EXTENSION[ext] ?? "application/octet-stream";
}

const TEXT_MIME_APPLICATION = new Set(["application/javascript", "application/typescript", "application/json", "application/jsonl", "application/xml", "application/graphql", "application/x-php", "application/dart"]);
export const TEXT_EXTENSIONS: ReadonlySet<string> = new Set(
  Object.entries(MIME_BY_EXTENSION)
    .filter(([, type]) => type.startsWith("text/") || TEXT_MIME_APPLICATION.has(type) || type === "image/svg+xml")
    .map(([ext]) => `.${ext}`),
);

export const normaliseExtension = (ext: string): string => {
  const lower = ext.trim().toLowerCase();
  return lower.startsWith(".") ? lower : `.${lower}`;
};


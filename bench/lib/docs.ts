import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

// docs/benchmarks.md holds one section per benchmark between `<!-- bench:ID:start -->` and
// `<!-- bench:ID:end -->`; a benchmark rewrites only its own section and leaves the rest alone.

const INTRO = `# Benchmarks

Benchmarks measure how fast Clawkeep is on one machine; they are **not tests**: nothing fails
when a number is bad, they are not part of \`npm test\` or CI, and their numbers only compare
within one run on one machine. Run them on an otherwise idle machine, e.g. \`npm run bench\`
(\`BENCH_SECONDS=10\` by default; see the header of each script under \`bench/\` for its
settings). Each benchmark rewrites only its own section of this file, between its
\`<!-- bench:NAME:start -->\` / \`<!-- bench:NAME:end -->\` markers, so several can live here.
`;

export function writeSection(file: string, id: string, body: string): void {
  const start = `<!-- bench:${id}:start -->`;
  const end = `<!-- bench:${id}:end -->`;
  const block = `${start}\n${body.trim()}\n${end}`;
  const old = existsSync(file) ? readFileSync(file, "utf8") : INTRO;
  const i = old.indexOf(start);
  const j = old.indexOf(end);
  let next: string;
  if (i !== -1 && j > i) next = old.slice(0, i) + block + old.slice(j + end.length);
  else if (i !== -1 || j !== -1) throw new Error(`${file}: unbalanced ${id} markers; fix them by hand`);
  else next = `${old.trimEnd()}\n\n${block}\n`;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, next);
}

import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

// Builds the dashboard (src/dashboard) into dist/dashboard: one script, one service worker, one
// stylesheet and the page. Run by `npm run build`, so by `npm install` (prepare). Nothing is
// fetched at run time from anywhere but the Clawkeep server itself.

const root = path.resolve(import.meta.dirname, "..");
const src = path.join(root, "src", "dashboard");
const out = path.join(root, "dist", "dashboard");
mkdirSync(out, { recursive: true });

const common = { bundle: true, minify: true, platform: "browser", target: "es2022", legalComments: "none", logLevel: "warning" } as const;
await build({ ...common, entryPoints: [path.join(src, "main.ts")], outfile: path.join(out, "app.js"), format: "esm" });
await build({ ...common, entryPoints: [path.join(src, "sw.ts")], outfile: path.join(out, "sw.js"), format: "iife" });
await build({ ...common, entryPoints: [path.join(src, "app.css")], outfile: path.join(out, "app.css") });
copyFileSync(path.join(src, "index.html"), path.join(out, "index.html"));

let raw = 0;
let gz = 0;
for (const f of ["index.html", "app.js", "app.css", "sw.js"]) {
  const b = readFileSync(path.join(out, f));
  raw += b.length;
  gz += gzipSync(b, { level: 9 }).length;
}
console.log(`dashboard: dist/dashboard, ${raw} bytes (${gz} gzipped)`);

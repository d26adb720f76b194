// Builds the Users page into dist/ui: one script and one stylesheet, named by a hash of their content, and the
// index.html that loads them. Run by `npm run build:ui` (npm start, npm test and npm pack run it first).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/ui`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: { app: `${root}ui/src/main.tsx` },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  outdir: out,
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const script = outputs.find((name) => name.endsWith('.js'));
const style = outputs.find((name) => name.endsWith('.css'));
if (script === undefined || style === undefined) throw new Error(`the build made no script or no stylesheet: ${outputs.join(', ')}`);
writeFileSync(`${out}/index.html`, `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LLM users</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/${style}">
<script type="module" src="/ui/${script}"></script>
</head>
<body><div id="app"></div><noscript>This page needs JavaScript.</noscript></body>
</html>
`);
console.log(`built dist/ui: ${outputs.join(', ')}, index.html`);

#!/usr/bin/env node
// Installed from the registry the package runs its compiled JavaScript; in a checkout, Node 24 runs the TypeScript
// sources directly. `llm-user-metrics reprice ...` re-prices a stored range of the ledger
// (docs/pricing.md); anything else starts the processor.
import { existsSync } from 'node:fs';

// A checkout has the sources (the package ships only dist/): they win, so that a dist/ left by an earlier build
// (npm pack runs one) is never run in their place.
const moduleUrl = (name) => {
  const source = new URL(`../src/${name}.ts`, import.meta.url);
  return existsSync(source) ? source.href : new URL(`../dist/src/${name}.js`, import.meta.url).href;
};

if (process.argv[2] === 'reprice') {
  const { runRepriceCommand } = await import(moduleUrl('reprice/main'));
  process.exitCode = runRepriceCommand(process.argv.slice(3), process.env,
    (text) => process.stdout.write(text), (text) => process.stderr.write(text));
} else {
  await import(moduleUrl('main'));
}

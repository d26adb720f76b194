#!/usr/bin/env node
// Installed from the registry the package runs its compiled JavaScript; in a checkout without a build, Node 24
// runs the TypeScript sources directly.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/src/main.js', import.meta.url);
await import(existsSync(compiled) ? compiled.href : new URL('../src/main.ts', import.meta.url).href);

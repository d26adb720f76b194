/**
 * Apps as users make them: the package packed with `npm pack` (which builds it), the tarball installed with the real
 * SDKs into a temp folder. A folder install would be a symlink keeping our own node_modules and hide version clashes.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(REPO, 'node_modules', '.bin');
export const NODE = join(BIN, 'node');
/** npm scripts (prepack runs tsc) and npm itself on Node 24 from our devDependencies. */
const npmEnv = () => ({ ...process.env, PATH: `${BIN}:${process.env.PATH ?? ''}` });

export async function installedVersion(name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

/** Packs the repo into `dir`; returns the tarball path. */
export async function packTarball(dir: string): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: REPO, env: npmEnv(), maxBuffer: 1 << 24 }));
  } catch (error) {
    const output = (error as { stdout?: string }).stdout ?? '';
    throw new Error(`npm pack failed: its prepack build (tsc -p tsconfig.build.json, src/ and instrumentation/) reported:\n${output}`);
  }
  const name = stdout.trim().split('\n').at(-1)!;
  return join(dir, name);
}

/** A fresh app folder with the tarball and these exact packages (`name@version`) installed. */
export async function installApp(root: string, name: string, tarball: string, packages: string[]): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, private: true, version: '1.0.0' }));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, ...packages], {
    cwd: dir, env: npmEnv(), maxBuffer: 1 << 24, timeout: 90_000,
  });
  return dir;
}

export async function makeTempRoot(): Promise<{ root: string; remove(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'lum-apps-'));
  return { root, remove: () => rm(root, { recursive: true, force: true }) };
}

export interface AppRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs `node <flag> llm-user-metrics/instrumentation <file>` in the app folder with a clean environment. */
/** With `sigtermOn`, the app gets SIGTERM as soon as its stdout contains that text. */
export function runApp(dir: string, file: string, flag: '--require' | '--import', env: Record<string, string>, sigtermOn?: string): Promise<AppRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [flag, 'llm-user-metrics/instrumentation', file], {
      cwd: dir, env: { PATH: dirname(NODE) + ':' + (process.env.PATH ?? ''), ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      if (sigtermOn !== undefined && !signalled && stdout.includes(sigtermOn)) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code, signal) => { clearTimeout(killer); resolve({ code, signal, stdout, stderr }); });
  });
}

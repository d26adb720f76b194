/**
 * SIGTERM-to-exit time of the real processor under load (`node bench/shutdown.ts [tries]`): six clients on kept-alive
 * connections send exports of 20 calls back to back; after 60 are answered the processor gets SIGTERM. Prints each
 * try's time and exit code, then the median.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const tries = Number(process.argv[2] ?? 10);

function body(user: string, trace: number): string {
  const end = BigInt(Date.now()) * 1_000_000n;
  const spans = Array.from({ length: 20 }, (_, index) => ({
    traceId: trace.toString(16).padStart(32, '0'), spanId: (index + 1).toString(16).padStart(16, '0'), name: 'chat', kind: 3,
    startTimeUnixNano: String(end - 500_000_000n), endTimeUnixNano: String(end), status: {},
    attributes: [['gen_ai.operation.name', 'chat'], ['gen_ai.request.model', 'gpt-4o-mini'], ['gen_ai.provider.name', 'openai'], ['user.id', user]]
      .map(([key, value]) => ({ key, value: { stringValue: value } }))
      .concat([{ key: 'gen_ai.usage.input_tokens', value: { intValue: '100' } } as never]),
  }));
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'b' }, spans }] }] });
}

function post(url: string, agent: Agent, payload: string): Promise<number> {
  return new Promise((resolve) => {
    const outgoing = request(`${url}/v1/traces`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', () => resolve(0));
    });
    outgoing.on('error', () => resolve(0));
    outgoing.end(payload);
  });
}

async function once_(): Promise<{ ms: number; code: number | null }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'llm-user-metrics-shutdown-bench-'));
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve) => child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    const match = /listening on (\S+)/.exec(out);
    if (match) resolve(match[1]!);
  }));
  const exited = once(child, 'exit');
  let answered = 0;
  let signalledAt = 0;
  let trace = 0;
  await Promise.all(Array.from({ length: 6 }, async (_, client) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let sent = 0; ; sent++) {
      if ((await post(url, agent, body(`c${client}-${sent}`, ++trace))) !== 200) break;
      if (++answered === 60) { signalledAt = performance.now(); child.kill('SIGTERM'); }
    }
    agent.destroy();
  }));
  const [code] = await exited as [number | null];
  const ms = performance.now() - signalledAt;
  rmSync(dataDir, { recursive: true, force: true });
  return { ms, code };
}

const times: number[] = [];
for (let i = 0; i < tries; i++) {
  const { ms, code } = await once_();
  times.push(ms);
  console.log(`try ${i + 1}: SIGTERM to exit ${ms.toFixed(0)} ms, exit code ${code}`);
}
times.sort((a, b) => a - b);
console.log(`median ${times[Math.floor(times.length / 2)]!.toFixed(0)} ms over ${tries} tries`);

/**
 * End to end, as users run it: the packed package installed with the real SDKs into fresh apps, started with
 * `--require` (CommonJS) or `--import` (ESM), calling the provider stand-in and exporting to the real processor
 * through a tap that keeps every OTLP body (to prove no secret or prompt text left the app).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';
import { startProviderStandIn, ANTHROPIC_USAGE, OPENAI_USAGE, type ProviderStandIn } from '../fixtures/provider-stand-in.ts';
import { installApp, installedVersion, makeTempRoot, packTarball, runApp } from './packed-app.ts';

const SECRET = 'sk-proj-SECRET-key-that-must-stay-home';
const PROMPT = 'a very private prompt about the weather';

const CJS_HEADER = `'use strict';
const OpenAI = require('openai');
const { withUser } = require('llm-user-metrics');
let Anthropic; try { Anthropic = require('@anthropic-ai/sdk'); } catch {}
`;
const ESM_HEADER = `import OpenAI from 'openai';
import { withUser } from 'llm-user-metrics';
let Anthropic; try { Anthropic = (await import('@anthropic-ai/sdk')).default; } catch {}
`;
const FOOTER = '\nmain().catch((e) => { console.error(e); process.exitCode = 1; });\n';

interface Tap { url: string; bodies: Buffer[]; close(): Promise<void> }

/** Keeps each OTLP body and passes it on to the processor, answering with the processor's answer. */
async function startTap(target: string): Promise<Tap> {
  const bodies: Buffer[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    bodies.push(body);
    const answer = await fetch(target + (req.url ?? '/'), {
      method: 'POST', body, headers: { 'content-type': String(req.headers['content-type'] ?? 'application/x-protobuf') },
    });
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Sum of a metric's samples whose labels include all of `match`. */
function sumMetric(text: string, name: string, match: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const close = line.lastIndexOf('}');
    const labels = Object.fromEntries([...line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) sum += Number(line.slice(close + 1).trim());
  }
  return sum;
}

let standIn: ProviderStandIn;
let processor: RunningProcessor;
let tap: Tap;
let temp: Awaited<ReturnType<typeof makeTempRoot>>;
const apps: Record<'v7' | 'v6' | 'v4', string> = { v7: '', v6: '', v4: '' };

before(async () => {
  temp = await makeTempRoot();
  [standIn, processor] = await Promise.all([startProviderStandIn(), startProcessor({})]);
  tap = await startTap(processor.url);
  const tarball = await packTarball(temp.root);
  const [v7, v6, v4, anthropic] = await Promise.all(['openai', 'openai-v6', 'openai-v4', '@anthropic-ai/sdk'].map(installedVersion));
  [apps.v7, apps.v6, apps.v4] = await Promise.all([
    installApp(temp.root, 'app-v7', tarball, [`openai@${v7}`, `@anthropic-ai/sdk@${anthropic}`]),
    installApp(temp.root, 'app-v6', tarball, [`openai@${v6}`]),
    installApp(temp.root, 'app-v4', tarball, [`openai@${v4}`]),
  ]);
  const calls = await readFile(new URL('./apps/calls.js.txt', import.meta.url), 'utf8');
  for (const dir of Object.values(apps)) {
    await writeFile(join(dir, 'app.cjs'), CJS_HEADER + calls + FOOTER);
    await writeFile(join(dir, 'app.mjs'), ESM_HEADER + calls + FOOTER);
  }
}, { timeout: 120_000 });

after(async () => {
  await Promise.allSettled([processor?.stop(), standIn?.close(), tap?.close()]);
  await temp?.remove();
});

const env = (user: string, calls: string) => ({
  STAND_IN: standIn.url, APP_USER: user, CALLS: calls, SECRET_KEY: SECRET, PROMPT,
  OTEL_EXPORTER_OTLP_ENDPOINT: tap.url, OTEL_SERVICE_NAME: `test-${user}`,
});

async function metricsFor(user: string, until: (text: string) => boolean): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const text = await processor.metrics();
    if (until(text) || Date.now() > deadline) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const cases = [
  { name: 'openai 7 + anthropic, CommonJS with --require', app: 'v7', file: 'app.cjs', flag: '--require', calls: 'all' },
  { name: 'openai 7 + anthropic, ESM with --import', app: 'v7', file: 'app.mjs', flag: '--import', calls: 'all' },
  { name: 'openai 6, CommonJS with --require', app: 'v6', file: 'app.cjs', flag: '--require', calls: 'basic' },
  { name: 'openai 6, ESM with --import', app: 'v6', file: 'app.mjs', flag: '--import', calls: 'basic' },
  { name: 'openai 4, CommonJS with --require', app: 'v4', file: 'app.cjs', flag: '--require', calls: 'basic' },
  { name: 'openai 4, ESM with --import', app: 'v4', file: 'app.mjs', flag: '--import', calls: 'basic' },
] as const;

describe('packed package in fresh apps', { concurrency: 2 }, () => {
  for (const c of cases) {
    it(c.name, async () => {
      const user = `user-${c.app}-${c.file.replace('.', '-')}`;
      const result = await runApp(apps[c.app], c.file, c.flag, env(user, c.calls));
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '', 'the instrumentation printed nothing');
      const seen = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
      // What the app saw is what it would see without us: 4 chunks, none with a usage key, the 429 as an error.
      assert.deepEqual({ plain: seen.plain, streamChunks: seen.streamChunks, streamUsageKeys: seen.streamUsageKeys, error: seen.error },
        { plain: OPENAI_USAGE.input, streamChunks: 4, streamUsageKeys: 0, error: 429 });

      const full = c.calls === 'all';
      const okCalls = full ? 6 : 2;
      const text = await metricsFor(user, (t) => sumMetric(t, 'llm_requests_total', { user_id: user }) >= okCalls + 1 + (full ? 3 : 0));
      const openai = { user_id: user, provider: 'openai' };
      assert.equal(sumMetric(text, 'llm_requests_total', { ...openai, status: 'ok' }), okCalls, text);
      assert.equal(sumMetric(text, 'llm_requests_total', { ...openai, status: 'error' }), 1);
      assert.equal(sumMetric(text, 'llm_tokens_total', { ...openai, type: 'input' }), okCalls * OPENAI_USAGE.input);
      assert.equal(sumMetric(text, 'llm_tokens_total', { ...openai, type: 'output' }), (okCalls - (full ? 1 : 0)) * OPENAI_USAGE.output);
      assert.ok(sumMetric(text, 'llm_cost_usd_total', openai) > 0, 'priced');
      assert.equal(sumMetric(text, 'llm_requests_total', { ...openai, plan: 'premium' }), 1, 'the Helicone property became a label');
      assert.ok(sumMetric(text, 'llm_time_to_first_token_seconds_count', { provider: 'openai' }) >= 1);
      if (full) {
        const anthropic = { user_id: user, provider: 'anthropic' };
        assert.equal(seen.anthropicOutput, ANTHROPIC_USAGE.output);
        assert.equal(sumMetric(text, 'llm_requests_total', anthropic), 3, 'one counted record per Anthropic call, not two');
        assert.equal(sumMetric(text, 'llm_tokens_total', { ...anthropic, type: 'input' }), 3 * ANTHROPIC_USAGE.input);
        assert.equal(sumMetric(text, 'llm_tokens_total', { ...anthropic, type: 'output' }), 3 * ANTHROPIC_USAGE.output);
      }
    });
  }

  it('SIGTERM: a long-running app still delivers its spans, and dies by the signal as it would without us', async () => {
    const user = 'user-sigterm';
    await writeFile(join(apps.v7, 'long.cjs'), `const OpenAI = require('openai');
const { withUser } = require('llm-user-metrics');
const client = new OpenAI({ apiKey: process.env.SECRET_KEY, baseURL: process.env.STAND_IN + '/v1', maxRetries: 0 });
withUser(process.env.APP_USER, () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }))
  .then(() => { console.log('ready'); setInterval(() => {}, 1000); });
`);
    const result = await runApp(apps.v7, 'long.cjs', '--require', env(user, 'basic'), 'ready');
    assert.equal(result.signal, 'SIGTERM', result.stderr);
    // The batch processor would have waited 5 s; the flush on SIGTERM sent the span before the process ended.
    const text = await metricsFor(user, (t) => sumMetric(t, 'llm_requests_total', { user_id: user }) >= 1);
    assert.equal(sumMetric(text, 'llm_requests_total', { user_id: user, status: 'ok' }), 1);
  });

});

describe('what left the apps', () => {
  it('nothing secret left the apps: no API key, auth header, prompt or completion text in any export', () => {
    assert.ok(tap.bodies.length > 0);
    const exported = Buffer.concat(tap.bodies).toString('latin1');
    for (const forbidden of [SECRET, 'Bearer', PROMPT, 'Hello there', 'authorization', 'Helicone-Auth']) {
      assert.ok(!exported.toLowerCase().includes(forbidden.toLowerCase()), `exported "${forbidden}"`);
    }
  });
});

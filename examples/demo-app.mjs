// The compose demo: an app that makes OpenAI chat calls for a dozen users on three plans and three features, tagged
// the two ways llm-user-metrics supports: Helicone-style request headers, and withUser / withProperties around the
// call. Start it with the instrumentation loaded first:
//   node --import llm-user-metrics/instrumentation examples/demo-app.mjs
// Env: OPENAI_BASE_URL (the stand-in, http://stand-in-provider:8080/v1 in compose), DEMO_INTERVAL_MS (pause between
// calls, default 500), DEMO_CALLS (stop after that many calls; default: run until stopped).
// After DEMO_SPIKE_AFTER_CALLS calls (default 600) user "mallory" starts calling ten times as often, so the anomaly
// panels and the spend-spike / request-flood alerts have something to show.
import OpenAI from 'openai';
import { withProperties, withUser } from 'llm-user-metrics';

const USERS = [
  { id: 'alice', plan: 'pro', weight: 6 }, { id: 'bob', plan: 'premium', weight: 8 }, { id: 'carol', plan: 'free', weight: 5 },
  { id: 'dave', plan: 'free', weight: 2 }, { id: 'erin', plan: 'pro', weight: 3 }, { id: 'frank', plan: 'premium', weight: 4 },
  { id: 'grace', plan: 'free', weight: 1 }, { id: 'heidi', plan: 'pro', weight: 2 }, { id: 'ivan', plan: 'free', weight: 3 },
  { id: 'judy', plan: 'premium', weight: 1 }, { id: 'mallory', plan: 'free', weight: 1 }, { id: 'oscar', plan: 'pro', weight: 2 },
];
const FEATURES = ['chat', 'summarize', 'search'];
const MODELS = ['gpt-4o-mini', 'gpt-4o-mini', 'gpt-4o', 'gpt-4.1-nano'];
/** One user whose calls often fail, to give the error panels data. */
const FLAKY_USER = 'dave';

function numberFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

/** A small seeded generator: the demo's traffic is the same on every run. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pickCall(next, callNumber, spikeAfter) {
  const spiking = callNumber >= spikeAfter;
  const weighted = USERS.flatMap((user) => Array(user.id === 'mallory' && spiking ? 40 : user.weight).fill(user));
  const user = weighted[Math.floor(next() * weighted.length)];
  const feature = FEATURES[Math.floor(next() * FEATURES.length)];
  const failing = user.id === FLAKY_USER && next() < 0.4;
  const model = MODELS[Math.floor(next() * MODELS.length)];
  const words = 5 + Math.floor(next() * 200);
  return { user, feature, model, failing, prompt: `Please ${feature} this: ${'lorem '.repeat(words)}`, stream: next() < 0.2, viaHeaders: next() < 0.5 };
}

async function call(client, { user, feature, model, failing, prompt, stream, viaHeaders }) {
  const body = { model, messages: [{ role: 'user', content: prompt }], max_tokens: 400, stream };
  // Asks the stand-in for a 429, as a provider under load would answer.
  const failure = failing ? { 'X-Stand-In-Status': '429' } : {};
  const consume = async (response) => {
    if (!stream) return;
    for await (const chunk of response) void chunk;
  };
  if (viaHeaders) {
    const headers = { ...failure, 'Helicone-User-Id': user.id, 'Helicone-Property-Plan': user.plan, 'Helicone-Property-Feature': feature };
    return consume(await client.chat.completions.create(body, { headers }));
  }
  return withUser(user.id, () => withProperties({ plan: user.plan, feature }, async () =>
    consume(await client.chat.completions.create(body, { headers: failure }))));
}

async function main() {
  const intervalMs = numberFromEnv('DEMO_INTERVAL_MS', 500);
  const calls = numberFromEnv('DEMO_CALLS', Infinity);
  const spikeAfter = numberFromEnv('DEMO_SPIKE_AFTER_CALLS', 600);
  const client = new OpenAI({
    baseURL: process.env.OPENAI_BASE_URL ?? 'http://127.0.0.1:8080/v1',
    // The stand-in checks no key; the SDK insists on one being set.
    apiKey: process.env.OPENAI_API_KEY ?? 'stand-in',
    maxRetries: 0,
  });
  const next = random(20261126);
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => { stopping = true; });
  let failed = 0;
  for (let n = 0; n < calls && !stopping; n++) {
    const planned = pickCall(next, n, spikeAfter);
    try {
      await call(client, planned);
    } catch (error) {
      failed++;
      if (!(error instanceof OpenAI.APIError)) console.error(`call ${n} for ${planned.user.id} failed: ${error.message}`);
    }
    if ((n + 1) % 100 === 0) console.log(`demo: ${n + 1} calls, ${failed} failed`);
    if (intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  console.log(`demo: done, ${failed} calls failed`);
}

await main();

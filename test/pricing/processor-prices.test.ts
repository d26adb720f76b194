/**
 * The fixes end to end, through the real processor: spans as our instrumentation writes them, priced at the
 * providers' own figures (cited in test/pricing/corrections.test.ts), and the users API and /metrics agreeing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CACHE_WRITE_1H_ATTRIBUTE, INSTRUMENTED_ATTRIBUTE, SEARCH_CONTEXT_SIZE_ATTRIBUTE } from '../../src/wire/attributes.ts';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';

type Value = string | number | boolean;

function otlpSpan(user: string, attributes: Record<string, Value>) {
  const end = BigInt(Date.UTC(2026, 11, 1, 12)) * 1_000_000n;
  const value = (v: Value) => typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : { intValue: String(v) };
  return {
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    name: 'chat',
    kind: 3,
    startTimeUnixNano: String(end - 1_000_000_000n),
    endTimeUnixNano: String(end),
    attributes: Object.entries({ ...attributes, [INSTRUMENTED_ATTRIBUTE]: true, 'gen_ai.operation.name': 'chat', 'user.id': user })
      .map(([key, v]) => ({ key, value: value(v) })),
  };
}

const sonnet4LongContext = {
  'gen_ai.provider.name': 'anthropic', 'gen_ai.response.model': 'claude-sonnet-4-20250514',
  'gen_ai.usage.input_tokens': 250_000, 'gen_ai.usage.output_tokens': 2_000,
};
const oneHourWrites = {
  'gen_ai.provider.name': 'anthropic', 'gen_ai.response.model': 'claude-sonnet-4-5',
  'gen_ai.usage.input_tokens': 11_000, 'gen_ai.usage.cache_creation.input_tokens': 10_000, [CACHE_WRITE_1H_ATTRIBUTE]: 4_000,
  'gen_ai.usage.output_tokens': 100,
};
const sonar = { 'gen_ai.provider.name': 'perplexity', 'gen_ai.response.model': 'sonar', 'gen_ai.usage.input_tokens': 1_000, 'gen_ai.usage.output_tokens': 500 };

/** Nano-dollars per user, from the figures on the providers' pages (see corrections.test.ts). */
const EXPECTED: Record<string, number> = {
  'long-context': 250_000 * 6_000 + 2_000 * 22_500,
  'one-hour': 1_000 * 3_000 + 6_000 * 3_750 + 4_000 * 6_000 + 100 * 15_000,
  // One call at the medium tier ($8 per 1,000), one that does not say (Perplexity's default, low: $5 per 1,000).
  searcher: 2 * (1_000 * 1_000 + 500 * 1_000) + 8_000_000 + 5_000_000,
};

describe('prices through the processor', () => {
  let processor: RunningProcessor;
  before(async () => {
    processor = await startProcessor();
    const spans = [
      otlpSpan('long-context', sonnet4LongContext),
      otlpSpan('one-hour', oneHourWrites),
      otlpSpan('searcher', { ...sonar, [SEARCH_CONTEXT_SIZE_ATTRIBUTE]: 'medium' }),
      otlpSpan('searcher', sonar),
    ];
    const body = JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'prices' }, spans }] }] });
    const response = await fetch(`${processor.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal(response.status, 200, await response.text());
  });
  after(() => processor?.stop());

  for (const [user, nano] of Object.entries(EXPECTED)) {
    it(`${user}: the users API and /metrics both have the provider's price`, async () => {
      const response = await fetch(`${processor.url}/api/users/${user}`);
      assert.equal(response.status, 200);
      const { user: totals } = await response.json() as { user: { costNanoUsd: number } };
      assert.equal(totals.costNanoUsd, nano);
      const lines = (await processor.metrics()).split('\n').filter((line) => line.startsWith('llm_cost_usd_total{') && line.includes(`user_id="${user}"`));
      const usd = lines.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
      assert.ok(lines.length > 0, `no cost series for ${user}`);
      assert.ok(Math.abs(usd * 1e9 - nano) < 1, `/metrics ${usd} USD, expected ${nano} nano-dollars`);
    });
  }
});

/**
 * Cost of pricing per record: the catalogue's calcPrice called directly versus our pricer (memoized lookup +
 * compiled rates), on a repeated mix of ten models with varied usage. Not part of the test suite; run with
 *   node_modules/.bin/node test/pricing/pricing.bench.ts
 */
import { calcPrice } from '@pydantic/genai-prices';
import { catalogueModelId, findCatalogueModel, toCatalogueUsage } from '../../src/pricing/catalogue.ts';
import { createPricer } from '../../src/pricing/index.ts';
import type { UsageRecord } from '../../src/sources/usage-record.ts';
import { usageRecord } from './records.ts';

const MIX: ReadonlyArray<readonly [provider: string, model: string]> = [
  ['openai', 'gpt-4o-mini-2024-07-18'],
  ['openai', 'gpt-4.1-2025-04-14'],
  ['openai', 'text-embedding-3-small'],
  ['azure.ai.openai', 'gpt-4o-2024-08-06'],
  ['anthropic', 'claude-3-5-haiku-20241022'],
  ['anthropic', 'claude-sonnet-4-20250514'],
  ['gcp.gemini', 'gemini-2.5-pro'],
  ['gcp.vertex_ai', 'gemini-2.5-flash'],
  ['aws.bedrock', 'us.anthropic.claude-3-5-haiku-20241022-v1:0'],
  ['deepseek', 'deepseek-chat'],
];

function records(count: number): UsageRecord[] {
  const start = Date.UTC(2026, 10, 26, 10);
  return Array.from({ length: count }, (_, index) => {
    const [provider, model] = MIX[index % MIX.length]!;
    return usageRecord(
      provider,
      model,
      { input: 200 + ((index * 7919) % 250_000), cacheRead: (index * 31) % 4000, cacheWrite: index % 5 === 0 ? 1200 : 0, output: 50 + ((index * 104_729) % 3000), reasoning: 0 },
      { endTimeMs: start + index * 1000 },
    );
  });
}

function microsecondsPer(run: () => void, operations: number, rounds: number): number {
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = process.hrtime.bigint();
    run();
    samples.push(Number(process.hrtime.bigint() - started) / 1000 / operations);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

const batch = records(10_000);
const resolved = MIX.map(([provider, model]) => findCatalogueModel(provider, model)?.providerId);
let sink = 0;

const catalogueMicros = microsecondsPer(() => {
  for (let index = 0; index < 2000; index++) {
    const record = batch[index]!;
    const providerId = resolved[index % MIX.length];
    const result = calcPrice(toCatalogueUsage(record.tokens), catalogueModelId(record.model), {
      ...(providerId === undefined ? {} : { providerId }),
      timestamp: new Date(record.endTimeMs),
    });
    sink += result?.total_price ?? 0;
  }
}, 2000, 7);

const price = createPricer({ overrides: [] });
for (const record of batch) sink += price(record).costNanoUsd; // warm the memo and the JIT
// Keep every priced record, as the pipeline does, so the object spread cannot be optimized away.
const out: unknown[] = new Array(batch.length);
const pricerMicros = microsecondsPer(() => {
  for (let index = 0; index < batch.length; index++) out[index] = price(batch[index]!);
}, batch.length, 15);

console.log(`calcPrice per call (${MIX.length}-model mix, provider resolved): ${catalogueMicros.toFixed(2)} µs`);
console.log(`pricer per record (same mix, memo warm):          ${pricerMicros.toFixed(3)} µs`);
console.log(`ratio: ${(catalogueMicros / pricerMicros).toFixed(0)}x  (checksum ${sink > 0 ? 'ok' : 'zero?'})`);

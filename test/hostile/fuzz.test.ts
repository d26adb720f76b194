import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { makeBatch, serializeProtobuf } from '../../bench/fixtures.ts';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';
import { chatSpan, postExport } from '../ledger/otlp-bodies.ts';

/**
 * Seeded fuzzing of what a span can carry, against the real processor: hostile attribute values and times beside
 * good spans, and protobuf bodies with bytes flipped. Whatever arrives, an export is answered 200 or 400 (never
 * 500), every good span counts, and the users API, the CSV, /metrics and a restart keep working. The seed is fixed
 * so a failure replays; FUZZ_SEED picks another.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

type Span = ReturnType<typeof chatSpan>;
type AnyValue = Record<string, unknown>;

const hostileNumber = fc.oneof(
  fc.constantFrom(0, -1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e300, -1e300, 0.5, Number.MAX_SAFE_INTEGER),
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
);
const hostileText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('__no_user__', '__overflow__', '__proto__', 'constructor', '', '\ud800', 'a\u0000b', '=1+1', '"}\n#'),
  fc.integer({ min: 1000, max: 20_000 }).map((length) => 'm'.repeat(length)),
);
const anyValue: fc.Arbitrary<AnyValue> = fc.oneof(
  hostileText.map((stringValue) => ({ stringValue })),
  hostileNumber.map((intValue) => ({ intValue })),
  hostileNumber.map((doubleValue) => ({ doubleValue })),
  fc.boolean().map((boolValue) => ({ boolValue })),
  fc.array(hostileText.map((stringValue) => ({ stringValue })), { maxLength: 3 }).map((values) => ({ arrayValue: { values } })),
  fc.constant({}),
);
const ATTRIBUTE_KEYS = [
  'gen_ai.usage.input_tokens', 'gen_ai.usage.output_tokens', 'gen_ai.usage.cache_read.input_tokens',
  'gen_ai.usage.reasoning.output_tokens', 'gen_ai.request.model', 'gen_ai.response.model', 'gen_ai.provider.name',
  'gen_ai.operation.name', 'user.id', 'enduser.id', 'llm_user_metrics.property.plan', 'llm_user_metrics.property.__proto__',
  'gen_ai.system', 'llm.token_count.prompt', '__proto__', 'constructor',
];
const timeValue = fc.oneof(
  fc.constantFrom(0, '0', '-5', '18446744073709551615', '99999999999999999999', 9e21, 'soon', null),
  fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String),
);

interface Mutation {
  readonly attributes: Array<{ key: string; value: AnyValue }>;
  readonly start?: unknown;
  readonly end?: unknown;
  readonly traceId?: string;
}
const mutation: fc.Arbitrary<Mutation> = fc.record({
  attributes: fc.array(fc.record({ key: fc.oneof(fc.constantFrom(...ATTRIBUTE_KEYS), fc.string({ maxLength: 12 })), value: anyValue }), { maxLength: 6 }),
  start: fc.option(timeValue, { nil: undefined }),
  end: fc.option(timeValue, { nil: undefined }),
  traceId: fc.option(fc.oneof(fc.constant(''), fc.stringMatching(/^[0-9a-fA-F]{0,40}$/)), { nil: undefined }),
}, { requiredKeys: ['attributes'] });

function mutate(span: Span, change: Mutation): Record<string, unknown> {
  const replaced = new Set(change.attributes.map((attribute) => attribute.key));
  return {
    ...span,
    attributes: [...span.attributes.filter((attribute) => !replaced.has(attribute.key)), ...change.attributes],
    ...(change.start === undefined ? {} : { startTimeUnixNano: change.start }),
    ...(change.end === undefined ? {} : { endTimeUnixNano: change.end }),
    ...(change.traceId === undefined ? {} : { traceId: change.traceId }),
  };
}

function body(spans: readonly unknown[]): string {
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'fuzz' }, spans }] }] });
}

async function assertReadable(url: string): Promise<Array<{ userId: string; requests: number }>> {
  const users = await fetch(`${url}/api/users?limit=10000&sort=userId`);
  assert.equal(users.status, 200, `/api/users: ${await users.clone().text()}`);
  const page = (await users.json()) as { users: Array<{ userId: string; requests: number }> };
  for (const user of page.users.slice(0, 20)) {
    const detail = await fetch(`${url}/api/users/${encodeURIComponent(user.userId)}`);
    assert.equal(detail.status, 200, `/api/users/${JSON.stringify(user.userId)}: ${await detail.clone().text()}`);
  }
  assert.equal((await fetch(`${url}/api/users.csv`)).status, 200, '/api/users.csv');
  assert.equal((await fetch(`${url}/metrics`)).status, 200, '/metrics');
  return page.users;
}

describe('fuzzed spans and bodies against the real processor', () => {
  let dataDir: string;
  let processor: RunningProcessor;
  const goodCalls = new Map<string, number>();
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'hostile-fuzz-'));
    processor = await startProcessor({ DATA_DIR: dataDir, PROPERTY_LABELS: 'plan', LOG_LEVEL: 'error' });
  });
  after(async () => {
    await processor?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`hostile attribute values and times beside good spans (seed ${SEED}, ${RUNS} exports)`, async () => {
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 5 }), async (mutations) => {
      run++;
      const now = Date.now();
      const goodUser = `good-${run}`;
      const spans: unknown[] = mutations.map((change) => mutate(chatSpan({ user: 'fuzzed', endMs: now }), change));
      spans.splice(run % (spans.length + 1), 0, chatSpan({ user: goodUser, endMs: now }));
      const response = await postExport(processor.url, body(spans));
      assert.ok(response.status === 200 || response.status === 400, `status ${response.status}: ${await response.clone().text()}`);
      if (response.status === 200) goodCalls.set(goodUser, 1);
      // A body that decodes at all decodes span by span: the good span must not be lost to its neighbours.
      assert.equal(response.status, 200, `the good span was refused with its neighbours: ${await response.clone().text()}`);
    }), { seed: SEED, numRuns: RUNS, endOnFailure: true });
    const users = new Map((await assertReadable(processor.url)).map((user) => [user.userId, user.requests]));
    for (const [userId, requests] of goodCalls) assert.equal(users.get(userId), requests, `good user ${userId}`);
  });

  it('protobuf bodies with bytes flipped are answered 200 or 400, never 500', async () => {
    const valid = serializeProtobuf(makeBatch({ spans: 20, users: 5, seed: 7 }));
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ at: fc.nat({ max: valid.length - 1 }), byte: fc.nat({ max: 255 }) }), { minLength: 1, maxLength: 8 }),
      async (flips) => {
        const bytes = Uint8Array.from(valid);
        for (const flip of flips) bytes[flip.at] = flip.byte;
        const response = await postExport(processor.url, bytes, 'application/x-protobuf');
        assert.ok(response.status === 200 || response.status === 400, `status ${response.status}`);
      }), { seed: SEED, numRuns: RUNS, endOnFailure: true });
    await assertReadable(processor.url);
  });

  it('after the fuzzing, a restart on the same ledger works and every good span is still counted', async () => {
    await processor.stop();
    processor = await startProcessor({ DATA_DIR: dataDir, PROPERTY_LABELS: 'plan', LOG_LEVEL: 'error' });
    const users = new Map((await assertReadable(processor.url)).map((user) => [user.userId, user.requests]));
    assert.ok(goodCalls.size > 0);
    for (const [userId, requests] of goodCalls) assert.equal(users.get(userId), requests, `good user ${userId}`);
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';
import { chatSpan, postExport, type CallSpec } from '../ledger/otlp-bodies.ts';

/**
 * Numbers a span can carry that once poisoned the ledger for everyone (issue 12): each is sent beside a good span;
 * the bad one is rejected alone, naming what was wrong, and afterwards the users API, the CSV, /metrics and a
 * restart all work and every good span counted.
 */

type Span = ReturnType<typeof chatSpan>;
const NS_PER_MS = 1_000_000n;
const YEAR_MS = 365.25 * 24 * 3_600_000;

function withTokens(span: Span, key: string, intValue: string | number): Span {
  const attributes = span.attributes.filter((attribute) => attribute.key !== key);
  return { ...span, attributes: [...attributes, { key, value: { intValue } }] };
}

function withTimes(span: Span, startNs: bigint | number, endNs: bigint | number): Span {
  const text = (value: bigint | number) => (typeof value === 'bigint' ? String(value) : value);
  return { ...span, startTimeUnixNano: text(startNs) as string, endTimeUnixNano: text(endNs) as string };
}

function withUserAttribute(span: Span, userId: string): Span {
  return { ...span, attributes: [...span.attributes.filter((a) => a.key !== 'user.id'), { key: 'user.id', value: { stringValue: userId } }] };
}

function body(spans: readonly Span[]): string {
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'hostile' }, spans }] }] });
}

interface PoisonCase {
  readonly name: string;
  readonly poison: (now: number) => Span[];
  /** What the partial_success message must name. */
  readonly names: RegExp;
}

const CASES: readonly PoisonCase[] = [
  {
    name: 'input tokens of 2^53',
    poison: (now) => [withTokens(chatSpan({ user: 'victim', endMs: now }), 'gen_ai.usage.input_tokens', '9007199254740992')],
    names: /gen_ai\.usage\.input_tokens.*MAX_TOKENS_PER_CALL/,
  },
  {
    name: '1e14 input tokens on gpt-4o-mini (a cost past 2^53 nano-dollars)',
    poison: (now) => [withTokens(chatSpan({ user: 'victim', endMs: now }), 'gen_ai.usage.input_tokens', '100000000000000')],
    names: /gen_ai\.usage\.input_tokens.*MAX_TOKENS_PER_CALL/,
  },
  {
    name: 'two spans of 5e15 tokens',
    poison: (now) => [0, 1].map(() => withTokens(chatSpan({ user: 'victim', endMs: now }), 'gen_ai.usage.output_tokens', '5000000000000000')),
    names: /gen_ai\.usage\.output_tokens.*MAX_TOKENS_PER_CALL/,
  },
  {
    name: '1e300 tokens as a JSON number',
    poison: (now) => [withTokens(chatSpan({ user: 'victim', endMs: now }), 'gen_ai.usage.input_tokens', 1e300)],
    names: /gen_ai\.usage\.input_tokens.*MAX_TOKENS_PER_CALL/,
  },
  {
    name: 'six spans lasting 56 years',
    poison: (now) => Array.from({ length: 6 }, () => {
      const end = BigInt(now) * NS_PER_MS;
      return withTimes(chatSpan({ user: 'victim', endMs: now }), end - BigInt(Math.round(56 * YEAR_MS)) * NS_PER_MS, end);
    }),
    names: /end_time_unix_nano - start_time_unix_nano.*MAX_CALL_SECONDS/,
  },
  {
    name: 'a JSON endTimeUnixNano of 9e21',
    poison: (now) => [withTimes(chatSpan({ user: 'victim', endMs: now }), BigInt(now) * NS_PER_MS, 9e21)],
    // 9e21 ns ends in the year 287,000: past the clock or past the call-length ceiling, whichever is checked first.
    names: /end_time_unix_nano/,
  },
  {
    name: 'end times in 1970 and in 2554',
    poison: () => [Date.UTC(1970, 0, 2), Date.UTC(2554, 0, 1)].map((endMs) => chatSpan({ user: 'victim', endMs })),
    names: /end_time_unix_nano: ended .*(MAX_SPAN_AGE_HOURS|MAX_CLOCK_SKEW_SECONDS)/,
  },
  {
    name: 'user ids that name the reserved series',
    poison: (now) => ['__no_user__', '__overflow__'].map((id) => withUserAttribute(chatSpan({ user: 'x', endMs: now }), id)),
    names: /user\.id: "__no_user__" is reserved/,
  },
];

interface UserJson { userId: string; requests: number; inputTokens: number; costNanoUsd: number; inexactFields?: string[] }

async function usersOf(url: string): Promise<UserJson[]> {
  const response = await fetch(`${url}/api/users?limit=10000&sort=userId`);
  assert.equal(response.status, 200, `/api/users: ${response.status} ${await response.clone().text()}`);
  return ((await response.json()) as { users: UserJson[] }).users;
}

/** The users API, one user's page, the CSV and /metrics all answer 200. */
async function assertReadable(processor: RunningProcessor, userIds: readonly string[]): Promise<UserJson[]> {
  const users = await usersOf(processor.url);
  for (const userId of userIds) {
    const detail = await fetch(`${processor.url}/api/users/${encodeURIComponent(userId)}`);
    assert.equal(detail.status, 200, `/api/users/${userId}: ${await detail.clone().text()}`);
  }
  const csv = await fetch(`${processor.url}/api/users.csv`);
  assert.equal(csv.status, 200, `/api/users.csv: ${await csv.clone().text()}`);
  assert.equal((await csv.text()).trimEnd().split('\r\n').length, users.length + 1, 'a CSV row per user');
  const metrics = await fetch(`${processor.url}/metrics`);
  assert.equal(metrics.status, 200, '/metrics');
  return users;
}

describe('hostile numbers: each poison span is rejected alone', () => {
  let dataDir: string;
  let processor: RunningProcessor;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'hostile-numbers-'));
    processor = await startProcessor({ DATA_DIR: dataDir });
  });
  after(async () => {
    await processor?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  for (const [index, poisonCase] of CASES.entries()) {
    it(`${poisonCase.name}: rejected by name, the good span beside it counts`, async () => {
      const now = Date.now();
      const poison = poisonCase.poison(now);
      const good = chatSpan({ user: `good-${index}`, endMs: now, input: 1000 + index });
      const response = await postExport(processor.url, body([poison[0]!, good, ...poison.slice(1)]));
      assert.equal(response.status, 200);
      const answer = (await response.json()) as { partialSuccess?: { rejectedSpans: string; errorMessage: string } };
      assert.equal(answer.partialSuccess?.rejectedSpans, String(poison.length), JSON.stringify(answer));
      assert.match(answer.partialSuccess!.errorMessage, poisonCase.names);
      const users = await assertReadable(processor, [`good-${index}`]);
      assert.deepEqual(users.find((user) => user.userId === `good-${index}`)
        && { requests: 1, inputTokens: 1000 + index }, { requests: 1, inputTokens: 1000 + index });
      assert.ok(!users.some((user) => ['victim', '__no_user__', '__overflow__'].includes(user.userId)),
        `no poison reached the ledger: ${users.map((user) => user.userId).join(', ')}`);
    });
  }

  it('after all of them, a restart on the same ledger works and every good span is still there', async () => {
    await processor.stop();
    processor = await startProcessor({ DATA_DIR: dataDir });
    const users = await assertReadable(processor, ['good-0']);
    assert.deepEqual(users.map((user) => [user.userId, user.requests]),
      CASES.map((_, index) => [`good-${index}`, 1]));
  });
});

describe('hostile text in user ids', () => {
  it('U+0000 and a lone surrogate are stored as U+FFFD, alike in the users API, /metrics and after a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hostile-text-'));
    let processor = await startProcessor({ DATA_DIR: dataDir });
    try {
      const now = Date.now();
      const spans = ['nul\u0000id', 'half\ud800pair'].map((user) => chatSpan({ user, endMs: now }));
      assert.equal((await postExport(processor.url, body(spans))).status, 200);
      const expected = ['half\ufffdpair', 'nul\ufffdid'];
      const listed = async () => {
        const response = await fetch(`${processor.url}/api/users?sort=userId`);
        return ((await response.json()) as { users: Array<{ userId: string; metricsUserLabel: string }> }).users;
      };
      const users = await listed();
      assert.deepEqual(users.map((user) => user.userId), expected);
      assert.deepEqual(users.map((user) => user.metricsUserLabel), expected);
      const metrics = await (await fetch(`${processor.url}/metrics`)).text();
      for (const id of expected) assert.ok(metrics.includes(`user_id="${id}"`), `${JSON.stringify(id)} on /metrics`);
      assert.equal((await fetch(`${processor.url}/api/users/${encodeURIComponent(expected[1]!)}`)).status, 200);
      await processor.stop();
      processor = await startProcessor({ DATA_DIR: dataDir });
      assert.deepEqual((await listed()).map((user) => user.userId), expected);
    } finally {
      await processor.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('hostile numbers with every ceiling opened wide: what reaches the ledger never breaks a read', () => {
  let dataDir: string;
  let processor: RunningProcessor;
  const WIDE = {
    MAX_TOKENS_PER_CALL: String(Number.MAX_SAFE_INTEGER),
    MAX_CALL_SECONDS: String(100 * 366 * 24 * 3600),
    MAX_SPAN_AGE_HOURS: String(100 * 366 * 24),
    MAX_CLOCK_SKEW_SECONDS: String(100 * 366 * 24 * 3600),
  };
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'hostile-wide-'));
    processor = await startProcessor({ DATA_DIR: dataDir, ...WIDE });
  });
  after(async () => {
    await processor?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('sums past 2^53 and 2^63 read back, flagged inexact; other users stay exact; a restart works', async () => {
    const now = Date.now();
    const huge: Span[] = Array.from({ length: 8 }, () =>
      withTokens(chatSpan({ user: 'whale', endMs: now, output: 0 }), 'gen_ai.usage.input_tokens', String(Number.MAX_SAFE_INTEGER)));
    const end = BigInt(now) * NS_PER_MS;
    const ancient = Array.from({ length: 6 }, () => withTimes(chatSpan({ user: 'sloth', endMs: now }),
      end - BigInt(Math.round(56 * YEAR_MS)) * NS_PER_MS, end));
    const good: CallSpec = { user: 'good', endMs: now, input: 123, output: 45 };
    for (const spans of [huge.slice(0, 4), huge.slice(4), ancient, [chatSpan(good)]]) {
      const response = await postExport(processor.url, body(spans));
      assert.equal(response.status, 200, await response.clone().text());
    }
    let users = await assertReadable(processor, ['whale', 'sloth', 'good']);
    const byId = new Map(users.map((user) => [user.userId, user]));
    assert.ok(byId.get('whale')!.inexactFields?.includes('inputTokens'), JSON.stringify(byId.get('whale')));
    assert.ok(byId.get('whale')!.inexactFields?.includes('costNanoUsd'));
    assert.ok(byId.get('sloth')!.inexactFields === undefined || !byId.get('sloth')!.inexactFields!.includes('requests'));
    assert.equal(byId.get('good')!.inputTokens, 123);
    assert.equal(byId.get('good')!.inexactFields, undefined);
    await processor.stop();
    processor = await startProcessor({ DATA_DIR: dataDir, ...WIDE });
    users = await assertReadable(processor, ['whale', 'sloth', 'good']);
    assert.equal(users.length, 3);
    // The whale's next export is acknowledged, not refused because of what the ledger holds.
    const next = await postExport(processor.url, body([chatSpan({ user: 'whale', endMs: Date.now() })]));
    assert.equal(next.status, 200);
  });

  it('one user with calls in 1970 and in 2125 across 200 models: their page reads only the days they had calls on', async () => {
    const spans: Span[] = [];
    for (let model = 0; model < 200; model++) {
      for (const endMs of [Date.UTC(1970, 0, 2), Date.UTC(2125, 0, 1)]) spans.push(chatSpan({ user: 'traveller', endMs, model: `model-${model}` }));
    }
    const response = await postExport(processor.url, body(spans));
    assert.equal(response.status, 200);
    const detail = await fetch(`${processor.url}/api/users/traveller`);
    assert.equal(detail.status, 200);
    const json = (await detail.json()) as { user: UserJson; daily: Array<{ date: string; requests: number }>; byModel: unknown[] };
    assert.deepEqual(json.daily.map((day) => [day.date, day.requests]), [['1970-01-02', 200], ['2125-01-01', 200]]);
    assert.equal(json.byModel.length, 200);
    assert.equal(json.user.requests, 400);
  });
});

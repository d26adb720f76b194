import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  compileOverrideMatchers,
  loadPriceOverrides,
  parsePriceOverrides,
  PriceOverridesError,
} from '../../src/pricing/overrides.ts';

const dir = mkdtempSync(join(tmpdir(), 'pricing-overrides-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** The error message of loading a file with this content. */
function errorOf(content: string): string {
  const path = writeFile(`bad-${Math.random().toString(36).slice(2)}.json`, content);
  try {
    loadPriceOverrides(path);
  } catch (error) {
    assert.ok(error instanceof PriceOverridesError);
    assert.ok(error.message.includes(path), `message does not name the file: ${error.message}`);
    return error.message;
  }
  assert.fail('loaded without error');
}

describe('loadPriceOverrides', () => {
  it('loads the example in docs/pricing.md', () => {
    const doc = readFileSync(new URL('../../docs/pricing.md', import.meta.url), 'utf8');
    const example = /```json\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(example !== undefined, 'no json example in docs/pricing.md');
    const overrides = loadPriceOverrides(writeFile('prices.json', example));
    assert.equal(overrides.length, 4);
    assert.deepEqual(overrides[0]?.usdPerMillionTokens, { input: 0.3, output: 1.2, cacheRead: 0.15 });
    assert.equal(overrides[3]?.catalogueMultiplier, 0.8);
  });

  it('loads an empty list', () => {
    assert.deepEqual(loadPriceOverrides(writeFile('empty.json', '[]')), []);
  });

  it('names a file that cannot be read', () => {
    const missing = join(dir, 'nope.json');
    assert.throws(() => loadPriceOverrides(missing), (error: Error) => error instanceof PriceOverridesError && error.message.includes(missing) && /cannot be read/.test(error.message));
  });

  it('names a file that is not JSON', () => {
    assert.match(errorOf('[{ "model": "x", }]'), /not valid JSON/);
  });

  it('wants an array at the top', () => {
    assert.match(errorOf('{"model": "x"}'), /must be a JSON array of price entries, got an object/);
  });

  it('names the entry and field of each mistake, all of them at once', () => {
    const message = errorOf(
      JSON.stringify([
        { model: 'ok', usdPerMillionTokens: { input: 1, output: 2 } },
        { model: 'a', usdPerMillionTokens: { input: '0.3', output: 1 } },
        { model: 'b', usdPerMillionTokens: { input: 1 } },
        { model: 'c', usdPerMillionTokens: { input: -1, output: 1, cachedRead: 0.1 } },
        { modell: 'd', usdPerMillionTokens: { input: 1, output: 1 } },
        { model: 'e', modelPrefix: 'e', usdPerMillionTokens: { input: 1, output: 1 } },
        { model: 'f' },
        { model: 'g', usdPerMillionTokens: { input: 1, output: 1 }, catalogueMultiplier: 0.5 },
        { modelRegex: '(unclosed', catalogueMultiplier: 0.5 },
        { provider: '', model: 'h', catalogueMultiplier: 0.5 },
        { model: 'i', catalogueMultiplier: 'half' },
        'gpt-4o',
        { model: 'OK', usdPerMillionTokens: { input: 3, output: 4 } },
      ]),
    );
    const lines = message.split('\n');
    const expectations: Array<[number, RegExp]> = [
      [1, /entry \[1\] field "usdPerMillionTokens\.input": must be a number >= 0 \(USD per million tokens\), got string "0\.3"/],
      [2, /entry \[2\] field "usdPerMillionTokens\.output": must be a number >= 0 .* got nothing \(missing\)/],
      [3, /entry \[3\] field "usdPerMillionTokens\.cachedRead": unknown field/],
      [3, /entry \[3\] field "usdPerMillionTokens\.input": must be a number >= 0 .* got number -1/],
      [4, /entry \[4\] field "modell": unknown field \(known: provider, model, modelPrefix/],
      [5, /entry \[5\] fields "model", "modelPrefix": give at most one/],
      [6, /entry \[6\] fields "usdPerMillionTokens", "catalogueMultiplier": give exactly one/],
      [7, /entry \[7\] fields "usdPerMillionTokens", "catalogueMultiplier": give exactly one/],
      [8, /entry \[8\] field "modelRegex": not a valid regular expression/],
      [9, /entry \[9\] field "provider": must be a non-empty string/],
      [10, /entry \[10\] field "catalogueMultiplier": must be a number >= 0, got string "half"/],
      [11, /entry \[11\] must be an object, got string "gpt-4o"/],
      [12, /entry \[12\] matches the same provider and models as entry \[0\] and their periods overlap \(always and always\)/],
    ];
    for (const [, pattern] of expectations) assert.ok(lines.some((line) => pattern.test(line)), `no line matches ${pattern}:\n${message}`);
    assert.ok(!message.includes('entry [0] field'), 'the valid entry was reported');
    assert.equal(lines.length, expectations.length);
  });
});

describe('parsePriceOverrides', () => {
  it('names the source it was given', () => {
    assert.throws(() => parsePriceOverrides(null, 'PRICES test'), /^PriceOverridesError: PRICES test: must be a JSON array of price entries, got null$/m);
  });
});

describe('override matching', () => {
  const [exact, prefix, regex, anyModel] = compileOverrideMatchers(
    parsePriceOverrides(
      [
        { provider: 'openai', model: 'GPT-4o-Mini', catalogueMultiplier: 1 },
        { modelPrefix: 'ft:gpt-4o', catalogueMultiplier: 1 },
        { provider: 'aws.bedrock', modelRegex: '(us|eu)\\.anthropic\\.claude.*', catalogueMultiplier: 1 },
        { provider: 'vllm', usdPerMillionTokens: { input: 0, output: 0 } },
      ],
      'test',
    ),
  );

  it('compares exact ids and providers without regard to case', () => {
    assert.equal(exact?.matches('openai', 'gpt-4o-mini'), true);
    assert.equal(exact?.matches('OpenAI', 'GPT-4O-MINI'), true);
    assert.equal(exact?.matches('openai', 'gpt-4o-mini-2024-07-18'), false);
    assert.equal(exact?.matches('azure.ai.openai', 'gpt-4o-mini'), false);
  });

  it('matches a prefix under any provider when none is given', () => {
    assert.equal(prefix?.matches('openai', 'ft:gpt-4o-mini-2024-07-18:acme::abc'), true);
    assert.equal(prefix?.matches('', 'ft:gpt-4o:x'), true);
    assert.equal(prefix?.matches('openai', 'gpt-4o'), false);
  });

  it('anchors a regular expression to the whole id', () => {
    assert.equal(regex?.matches('aws.bedrock', 'us.anthropic.claude-3-5-haiku-20241022-v1:0'), true);
    assert.equal(regex?.matches('aws.bedrock', 'apac.us.anthropic.claude-3'), false);
    assert.equal(regex?.matches('anthropic', 'us.anthropic.claude-3'), false);
  });

  it('matches every model of the provider when no model is given', () => {
    assert.equal(anyModel?.matches('vllm', 'whatever-7b'), true);
    assert.equal(anyModel?.matches('vllm', ''), true);
    assert.equal(anyModel?.matches('openai', 'whatever-7b'), false);
  });
});

describe('effective dates (from / until)', () => {
  it('reads dates as UTC midnight and date-times in their zone', () => {
    const [byDate, byZone] = parsePriceOverrides([
      { model: 'a', from: '2026-11-01', until: '2026-12-01', catalogueMultiplier: 1 },
      { model: 'b', from: '2026-11-01T10:00:00+01:00', catalogueMultiplier: 1 },
    ], 'test');
    assert.equal(byDate?.fromMs, Date.UTC(2026, 10, 1));
    assert.equal(byDate?.untilMs, Date.UTC(2026, 11, 1));
    assert.equal(byZone?.fromMs, Date.UTC(2026, 10, 1, 9));
    assert.equal(byZone?.untilMs, undefined);
  });

  it('refuses times without a zone, impossible days, times off the hour and empty periods, naming each', () => {
    const message = errorOf(JSON.stringify([
      { model: 'a', from: '2026-11-01T09:00:00', catalogueMultiplier: 1 },
      { model: 'b', from: '2026-02-30', catalogueMultiplier: 1 },
      { model: 'c', until: '2026-11-01T09:30:00Z', catalogueMultiplier: 1 },
      { model: 'd', from: '2026-12-01', until: '2026-11-01', catalogueMultiplier: 1 },
      { model: 'e', from: 20261101, catalogueMultiplier: 1 },
    ]));
    const lines = message.split('\n');
    assert.equal(lines.length, 5, message);
    assert.match(lines[0]!, /entry \[0\] field "from": must be an ISO date .* got string "2026-11-01T09:00:00"/);
    assert.match(lines[1]!, /entry \[1\] field "from": must be an ISO date .* got string "2026-02-30"/);
    assert.match(lines[2]!, /entry \[2\] field "until": must fall on a whole UTC hour .* "2026-11-01T09:30:00Z"/);
    assert.match(lines[3]!, /entry \[3\] fields "from", "until": "from" must come before "until"/);
    assert.match(lines[4]!, /entry \[4\] field "from": must be an ISO date .* got number 20261101/);
  });

  it('takes entries of one model whose periods follow each other, and refuses ones that overlap', () => {
    const periods = parsePriceOverrides([
      { model: 'm', until: '2026-11-15', usdPerMillionTokens: { input: 1, output: 1 } },
      { model: 'm', from: '2026-11-15', until: '2026-12-01', usdPerMillionTokens: { input: 2, output: 2 } },
      { model: 'm', from: '2026-12-01', usdPerMillionTokens: { input: 3, output: 3 } },
    ], 'test');
    assert.equal(periods.length, 3);
    assert.throws(() => parsePriceOverrides([
      { model: 'm', from: '2026-11-01', until: '2026-11-20', catalogueMultiplier: 1 },
      { model: 'M', from: '2026-11-15', catalogueMultiplier: 0.5 },
    ], 'test'), /entry \[1\] matches the same provider and models as entry \[0\] and their periods overlap \(2026-11-01 to 2026-11-20 and 2026-11-15 to ever\)/);
    assert.throws(() => parsePriceOverrides([
      { model: 'm', from: '2026-11-01', catalogueMultiplier: 1 },
      { model: 'm', catalogueMultiplier: 0.5 },
    ], 'test'), /entry \[1\] .* overlap \(2026-11-01 to ever and always\)/);
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startProcessor } from '../helpers/processor.ts';
import { exportBody, metricsByUser, postExport, type CallSpec } from '../ledger/otlp-bodies.ts';
import { parseRepriceArgs } from '../../src/reprice/main.ts';

const BIN = fileURLToPath(new URL('../../bin/llm-user-metrics.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'reprice-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function reprice(args: string[], env: Record<string, string>) {
  const run = spawnSync(process.execPath, [BIN, 'reprice', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

async function usersApi(url: string, query = ''): Promise<Record<string, number>> {
  const body = await (await fetch(`${url}/api/users?sort=userId${query}`)).json() as { users: Array<{ userId: string; costNanoUsd: number }> };
  return Object.fromEntries(body.users.map((user) => [user.userId, user.costNanoUsd]));
}

const at = (day: number, hour: number, minute = 0) => Date.UTC(2026, 10, day, hour, minute);

describe('re-pricing a stored range after a dated price change', () => {
  it('shows old and new per user in a dry run, then changes the users API exactly and leaves calls outside the range alone', async () => {
    const dataDir = join(dir, 'data');
    const before = join(dir, 'before.json');
    const changed = join(dir, 'changed.json');
    // Whole nano-dollars per token, so per-call and per-hour rounding agree and every figure below is exact.
    writeFileSync(before, JSON.stringify([{ provider: 'openai', model: 'house-model', usdPerMillionTokens: { input: 1, output: 2 } }]));
    writeFileSync(changed, JSON.stringify([
      { provider: 'openai', model: 'house-model', until: '2026-11-10', usdPerMillionTokens: { input: 1, output: 2 } },
      { provider: 'openai', model: 'house-model', from: '2026-11-10', usdPerMillionTokens: { input: 3, output: 4 }, note: 'corrected' },
    ]));
    const calls: CallSpec[] = [
      { user: 'alice', endMs: at(9, 23, 59), model: 'house-model', input: 1000, output: 500 }, // outside: 2,000,000 stays
      { user: 'alice', endMs: at(10, 12, 30), model: 'house-model', input: 1000, output: 500 }, // 2,000,000 -> 5,000,000
      { user: 'bob', endMs: at(10, 13, 10), model: 'house-model', input: 2000, output: 0 }, // 2,000,000 -> 6,000,000
      { user: 'carol', endMs: at(10, 14, 0), model: 'gpt-4o-mini', input: 1000, output: 500 }, // catalogue: 450,000 stays
      { user: 'bob', endMs: at(11, 0, 0), model: 'house-model', input: 2000, output: 0 }, // outside (--to exclusive)
    ];
    const env = { DATA_DIR: dataDir, PRICES_FILE: before };
    let processor = await startProcessor(env);
    try {
      assert.equal((await postExport(processor.url, exportBody(calls))).status, 200);
      assert.deepEqual(await usersApi(processor.url), { alice: 4_000_000, bob: 4_000_000, carol: 450_000 });

      const refused = reprice(['--from', '2026-11-10', '--to', '2026-11-11', '--dry-run'], env);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /a processor is running on .*: stop it, re-price, then start it again/);
    } finally {
      await processor.stop();
    }

    const dry = reprice(['--from', '2026-11-10', '--to', '2026-11-11T00:00:00+00:00', '--dry-run', '--prices-file', changed], env);
    assert.equal(dry.status, 0, dry.stderr);
    assert.deepEqual(dry.stdout.split('\n').slice(1, 6), [
      'user\told_usd\tnew_usd\tchange_usd',
      'alice\t0.002000000\t0.005000000\t0.003000000',
      'bob\t0.002000000\t0.006000000\t0.004000000',
      'carol\t0.000450000\t0.000450000\t0.000000000',
      'total\t0.004450000\t0.011450000\t0.007000000',
    ]);
    assert.match(dry.stdout, /dry run: nothing changed/);
    assert.match(dry.stdout, /2 of 3 series-hours would change/);
    // A dry run twice shows the same old figures: it changed nothing.
    assert.equal(reprice(['--from', '2026-11-10', '--to', '2026-11-11', '--dry-run', '--prices-file', changed], env).stdout, dry.stdout);

    const real = reprice(['--from=2026-11-10', '--to=2026-11-11'], { ...env, PRICES_FILE: changed });
    assert.equal(real.status, 0, real.stderr);
    assert.match(real.stdout, /\(applied\)/);

    processor = await startProcessor({ ...env, PRICES_FILE: changed });
    try {
      assert.deepEqual(await usersApi(processor.url), { alice: 7_000_000, bob: 8_000_000, carol: 450_000 });
      assert.deepEqual(await usersApi(processor.url, '&from=2026-11-09T00:00:00Z&to=2026-11-10T00:00:00Z'), { alice: 2_000_000 });
      assert.deepEqual(await usersApi(processor.url, '&from=2026-11-11T00:00:00Z'), { bob: 2_000_000 });
      const detail = await (await fetch(`${processor.url}/api/users/alice?from=2026-11-10T00:00:00Z&to=2026-11-11T00:00:00Z`)).json() as
        { daily: Array<{ costNanoUsd: number }> };
      assert.deepEqual(detail.daily.map((day) => day.costNanoUsd), [5_000_000]);
      // /metrics continue from the re-priced ledger: alice's series is seeded from it when her next call arrives.
      assert.equal((await postExport(processor.url, exportBody([{ user: 'alice', endMs: at(10, 15), model: 'house-model', input: 1000, output: 500 }]))).status, 200);
      assert.equal(metricsByUser(await processor.metrics()).get('alice')?.costNanoUsd, 12_000_000);
      assert.equal((await usersApi(processor.url)).alice, 12_000_000);
    } finally {
      await processor.stop();
    }
  });
});

describe('the reprice command\'s mistakes', () => {
  it('names each mistake in the arguments', () => {
    assert.throws(() => parseRepriceArgs(['--from', '2026-11-10T00:30:00Z', '--to', '2026-11-11']), /whole UTC hours/);
    assert.throws(() => parseRepriceArgs(['--from', '2026-11-11', '--to', '2026-11-10']), /the range is empty/);
    assert.throws(() => parseRepriceArgs(['--from', '2026-11-10T00:00:00', '--to', '2026-11-11']), /--from "2026-11-10T00:00:00": not an ISO date or a date-time with a zone/);
    assert.throws(() => parseRepriceArgs(['--to', '2026-11-11', '--force']), /unknown argument "--force"\n--from is required/);
    assert.throws(() => parseRepriceArgs(['--from']), /--from needs a value/);
    assert.deepEqual(parseRepriceArgs(['--from', '2026-11-10', '--to=2026-11-10T02:00:00+01:00', '--dry-run']),
      { fromMs: at(10, 0), toMs: at(10, 1), dryRun: true, pricesFile: undefined });
  });

  it('exits 2 for bad arguments and 1 without a ledger, changing nothing', () => {
    const bad = reprice(['--from', 'yesterday', '--to', '2026-11-11'], { DATA_DIR: join(dir, 'none') });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--from "yesterday": not an ISO date/);
    const none = reprice(['--from', '2026-11-10', '--to', '2026-11-11'], { DATA_DIR: join(dir, 'none') });
    assert.equal(none.status, 1);
    assert.match(none.stderr, /no ledger at .*ledger\.sqlite \(is DATA_DIR right\?\)/);
    const shared = reprice(['--from', '2026-11-10', '--to', '2026-11-11'], { DATA_DIR: join(dir, 'none'), LEDGER_URL: 'postgres://u:secret@127.0.0.1:5/db' });
    assert.equal(shared.status, 2);
    assert.match(shared.stderr, /LEDGER_URL is set: re-pricing works on the SQLite ledger/);
    assert.doesNotMatch(shared.stderr, /secret/);
  });
});

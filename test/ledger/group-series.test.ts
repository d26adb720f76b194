import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupSeriesNumbering, MAX_KNOWN_SERIES } from '../../src/sinks/ledger/group-series.ts';
import { CALL_FIELDS, encodeCall } from '../../src/sinks/ledger/ledger-protocol.ts';
import type { SeedSums } from '../../src/sinks/ledger/metrics-seed.ts';
import { UnfoldedGroups } from '../../src/sinks/ledger/unfolded-groups.ts';
import { priced } from './records.ts';

describe('numbering the series of a group commit', () => {
  it('tells series apart whose fields would run together, and finds a known one whatever its properties\' order', () => {
    const numbering = new GroupSeriesNumbering();
    numbering.begin();
    const calls = [
      priced({ userId: 'a', provider: 'bc' }),
      priced({ userId: 'ab', provider: 'c' }),
      priced({ userId: 'a', provider: 'bc', properties: { plan: 'pro', x: '' } }),
      priced({ userId: 'a', provider: 'bc', properties: { plan: 'prox' } }),
      priced({ userId: 'a', provider: 'bc', isError: true }),
      priced({ userId: undefined }),
      priced({ userId: 'a', provider: 'bc', properties: { x: '', plan: 'pro' } }),
      priced({ userId: 'ab', provider: 'c' }),
    ];
    assert.deepEqual(calls.map((call) => numbering.indexOf(call)), [0, 1, 2, 3, 4, 5, 2, 1]);
    const group = numbering.end();
    const lines = group.text.split('\n');
    assert.equal(lines.length, 6);
    assert.deepEqual(JSON.parse(lines[2]!), ['a', 'bc', 'gpt-4o-mini', 'chat', false, '{"plan":"pro","x":""}', '', 0], 'canonical property order');
    assert.deepEqual(JSON.parse(lines[5]!)[0], '__no_user__');
    assert.equal(new Set(group.numbers).size, 6);
    assert.equal(group.reset, false);

    numbering.begin();
    assert.equal(numbering.indexOf(priced({ userId: 'ab', provider: 'c' })), 0, 'indexes are per group');
    assert.equal(numbering.indexOf(priced({ userId: 'new' })), 1);
    const next = numbering.end();
    assert.deepEqual(next.text.split('\n').map((line) => line === '' ? '' : JSON.parse(line)[0]), ['', 'new'], 'a line travels once');
    assert.equal(next.numbers[0], group.numbers[1], 'a known series keeps its number');
  });

  it('starts over past MAX_KNOWN_SERIES known series, even within one group: the writer is told, and every line travels again', () => {
    const count = 3 * MAX_KNOWN_SERIES;
    const numbering = new GroupSeriesNumbering();
    numbering.begin();
    numbering.indexOf(priced({ userId: 'first' }));
    const before = numbering.end();
    numbering.begin();
    const indexes = Array.from({ length: count }, (_, index) => numbering.indexOf(priced({ userId: `u${index}` })));
    assert.deepEqual([indexes[0], indexes[count - 1]], [0, count - 1]);
    const again = numbering.indexOf(priced({ userId: 'u0' }));
    assert.equal(again, count, 'met again after starting over: a second index (same line)');
    const big = numbering.end();
    assert.equal(big.reset, true);
    const lines = big.text.split('\n');
    assert.equal(lines.length, count + 1);
    assert.ok(lines.every((line) => line !== ''), 'every line is sent with the group that starts over');
    assert.equal(lines[count], lines[0]);
    numbering.begin();
    numbering.indexOf(priced({ userId: 'first' }));
    const after = numbering.end();
    assert.equal(after.reset, false);
    assert.notEqual(after.numbers[0], before.numbers[0], 'numbers are never reused');
    assert.equal(JSON.parse(after.text)[0], 'first', 'a series forgotten sends its line again');
  });

  it('adds a user\'s answered calls to a seed from the unfolded groups, until they are folded', () => {
    const numbering = new GroupSeriesNumbering();
    const unfolded = new UnfoldedGroups();
    const commit = (seq: number, records: ReturnType<typeof priced>[]) => {
      numbering.begin();
      const calls = new Float64Array(records.length * CALL_FIELDS);
      records.forEach((record, index) => encodeCall(calls, index, record, numbering.indexOf(record)));
      const fresh = new Uint8Array(records.length).fill(1);
      fresh[records.length - 1] = records.length > 1 ? 0 : 1; // the last call of a larger group is a retry
      unfolded.add(seq, numbering.end().series, calls, fresh);
    };
    commit(1, [priced({ userId: 'u', costNanoUsd: 1 }), priced({ userId: 'v', costNanoUsd: 2 }), priced({ userId: 'u', costNanoUsd: 4 })]);
    commit(2, [priced({ userId: 'v', costNanoUsd: 8 })]);
    commit(3, [priced({ userId: 'u', costNanoUsd: 16, isError: true }), priced({ userId: 'u', costNanoUsd: 32 }), priced({ userId: 'w' })]);
    const seedOf = (userId: string, afterSeq: number) => {
      const seeds = new Map<string, SeedSums>();
      unfolded.addToSeed(userId, afterSeq, seeds);
      return [...seeds.values()].map((seed) => [seed.requests, seed.errors, seed.costNanoUsd]).sort((a, b) => a[2]! - b[2]!);
    };
    assert.deepEqual(seedOf('u', 0), [[1, 1, 16], [2, 0, 33]], 'retries left out, errors apart');
    assert.deepEqual(seedOf('u', 1), [[1, 1, 16], [1, 0, 32]], 'only commits after the folded one');
    assert.deepEqual(seedOf('v', 0), [[2, 0, 10]]);
    assert.deepEqual(seedOf('w', 0), [], 'a retry only');
    unfolded.dropThrough(2);
    assert.equal(unfolded.size, 1);
    assert.deepEqual(seedOf('v', 0), [], 'folded');
    assert.deepEqual(seedOf('u', 0), [[1, 1, 16], [1, 0, 32]]);
  });
});

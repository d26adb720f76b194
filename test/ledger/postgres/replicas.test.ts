import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProcessor, type RunningProcessor } from '../../helpers/processor.ts';
import { postgresSkipReason, startPostgres, TEST_PASSWORD, type PostgresCluster } from '../../helpers/postgres.ts';
import { exportBody, metricsByUser, postExport, type CallSpec } from '../otlp-bodies.ts';

/**
 * Real processor processes sharing one PostgreSQL database, as replicas behind a load balancer would.
 */

const skip = postgresSkipReason();
let cluster: PostgresCluster;
let databases = 0;
const running: RunningProcessor[] = [];

interface UserRow {
  userId: string;
  requests: number;
  errors: number;
  costNanoUsd: number;
  inputTokens: number;
}

async function replicas(count: number, url: string, env: Record<string, string> = {}): Promise<RunningProcessor[]> {
  const started = await Promise.all(Array.from({ length: count }, () => startProcessor({ LEDGER_URL: url, PROPERTY_LABELS: 'plan', LOG_LEVEL: 'info', ...env })));
  running.push(...started);
  return started;
}

async function allUsers(url: string): Promise<UserRow[]> {
  const response = await fetch(`${url}/api/users?sort=userId&order=asc&limit=10000`);
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { users: UserRow[] }).users
    .map(({ userId, requests, errors, costNanoUsd, inputTokens }) => ({ userId, requests, errors, costNanoUsd, inputTokens }));
}

/** An export of `calls` calls for one user of its own, so that each export's presence can be checked alone. */
function exportOf(user: string, calls: number, endMs: number): string {
  const specs: CallSpec[] = Array.from({ length: calls }, (_, index) => ({
    user, endMs: endMs - index, input: 100 + index, output: 20, properties: { plan: index % 2 === 0 ? 'pro' : 'free' }, error: index % 5 === 0,
  }));
  return exportBody(specs);
}

describe('processor replicas on one PostgreSQL ledger', { skip }, () => {
  before(async () => { cluster = await startPostgres(); });
  after(async () => {
    await Promise.all(running.map((processor) => processor.stop('SIGKILL')));
    cluster?.destroy();
  });

  it('count an export sent to both once, agree on every user, and their /metrics summed equal the ledger', async () => {
    const url = await cluster.createDatabase(`replicas_${++databases}`);
    const [one, two] = await replicas(2, url);
    const now = Date.now() - 60_000;
    const bodies = Array.from({ length: 30 }, (_, index) => exportOf(`user-${index % 7}`, 1 + (index % 4), now - index * 1000));
    // Spread over both, some at the same time; then every export again to the other replica (a retry elsewhere).
    const first = await Promise.all(bodies.map((body, index) => postExport((index % 2 === 0 ? one : two)!.url, body)));
    assert.ok(first.every((answer) => answer.status === 200));
    const retried = await Promise.all(bodies.map((body, index) => postExport((index % 2 === 0 ? two : one)!.url, body)));
    assert.ok(retried.every((answer) => answer.status === 200));
    const both = await Promise.all([postExport(one!.url, bodies[0]!), postExport(two!.url, bodies[0]!)]);
    assert.deepEqual(both.map((answer) => answer.status), [200, 200]);

    const expectedCalls = bodies.reduce((sum, _, index) => sum + 1 + (index % 4), 0);
    const ledger = await allUsers(one!.url);
    assert.deepEqual(await allUsers(two!.url), ledger, 'both replicas give the same users');
    assert.equal(ledger.reduce((sum, user) => sum + user.requests, 0), expectedCalls, 'every call once');
    const csv = await Promise.all([one, two].map(async (processor) => (await fetch(`${processor!.url}/api/users.csv`)).text()));
    assert.equal(csv[0], csv[1], 'the same CSV from both');
    const detail = await Promise.all([one, two].map(async (processor) => (await fetch(`${processor!.url}/api/users/user-3`)).json()));
    assert.deepEqual(detail[0], detail[1]);

    // Each replica exposes only what it counted; Prometheus's sum by (user_id) over replicas is the ledger's total.
    const metrics = await Promise.all([one!.metrics(), two!.metrics()]).then((texts) => texts.map(metricsByUser));
    for (const user of ledger) {
      const perReplica = metrics.map((byUser) => byUser.get(user.userId));
      const summed = (field: 'requests' | 'errors' | 'costNanoUsd') => perReplica.reduce((sum, entry) => sum + (entry?.[field] ?? 0), 0);
      assert.equal(summed('requests'), user.requests, `${user.userId}: requests summed over replicas`);
      assert.equal(summed('errors'), user.errors, `${user.userId}: errors summed over replicas`);
      assert.equal(summed('costNanoUsd'), user.costNanoUsd, `${user.userId}: cost summed over replicas`);
      assert.equal(perReplica.reduce((sum, entry) => sum + (entry?.tokens.input ?? 0), 0), user.inputTokens);
    }
    assert.ok(metrics.every((byUser) => byUser.size > 0), 'both replicas counted some');
    for (const processor of [one, two]) assert.ok(!processor!.output().includes(TEST_PASSWORD), 'the password is never logged');
    assert.match(one!.output(), /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
  });

  it('lose nothing acknowledged when one is killed (-9) mid-load: every acknowledged export is there exactly once', async () => {
    const url = await cluster.createDatabase(`replicas_${++databases}`);
    const [victim, survivor] = await replicas(2, url);
    const now = Date.now() - 60_000;
    const acknowledged = new Set<number>();
    const sent: string[] = [];
    let killed = false;
    const load = async (worker: number) => {
      for (let round = 0; round < 40; round++) {
        const number = worker * 1000 + round;
        const body = exportOf(`export-${number}`, 3, now - number);
        sent[number] = body;
        const target = killed || number % 2 === 0 ? survivor! : victim!;
        try {
          const answer = await postExport(target.url, body);
          if (answer.status === 200) acknowledged.add(number);
        } catch {
          // The victim's connection was cut: not acknowledged.
        }
        if (worker === 0 && round === 15) {
          victim!.child.kill('SIGKILL');
          killed = true;
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(load));
    assert.ok(acknowledged.size > 100, `most exports acknowledged (${acknowledged.size})`);
    const byUser = new Map((await allUsers(survivor!.url)).map((user) => [user.userId, user.requests]));
    for (const number of acknowledged) assert.equal(byUser.get(`export-${number}`), 3, `acknowledged export ${number} present once`);
    for (const [userId, requests] of byUser) assert.equal(requests, 3, `${userId}: an export counts whole or not at all`);
    // The exporters retry what was not acknowledged, on the survivor: then every export is there once.
    for (const [number, body] of sent.entries()) if (body !== undefined && !acknowledged.has(number)) assert.equal((await postExport(survivor!.url, body)).status, 200);
    const after = await allUsers(survivor!.url);
    assert.equal(after.length, sent.filter((body) => body !== undefined).length);
    assert.ok(after.every((user) => user.requests === 3));
  });

  it('answer 503 while PostgreSQL is down and go on, without a restart, once it is back: nothing acknowledged lost', async () => {
    const url = await cluster.createDatabase(`replicas_${++databases}`);
    const [one, two] = await replicas(2, url);
    const now = Date.now() - 60_000;
    const acknowledged = new Set<number>();
    const send = async (number: number) => {
      const answer = await postExport((number % 2 === 0 ? one : two)!.url, exportOf(`e-${number}`, 2, now - number));
      if (answer.status === 200) acknowledged.add(number);
      return answer.status;
    };
    for (let number = 0; number < 10; number++) assert.equal(await send(number), 200);
    cluster.stop();
    let refused: number[];
    try {
      refused = await Promise.all([10, 11, 12, 13].map(send));
      assert.deepEqual(refused, [503, 503, 503, 503], 'exports get 503 (exporters retry)');
      const health = await fetch(`${one!.url}/healthz`);
      assert.equal(health.status, 503);
      assert.match(await health.text(), /failing/);
      assert.equal((await fetch(`${two!.url}/api/users`)).status, 503);
    } finally {
      cluster.start();
    }
    for (const processor of [one, two]) {
      while ((await fetch(`${processor!.url}/healthz`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // The exporters' retries of the refused exports, then new ones.
    for (const number of [10, 11, 12, 13, 14, 15]) assert.equal(await send(number), 200);
    const users = await allUsers(two!.url);
    assert.deepEqual(users.map((user) => user.userId).sort(), Array.from({ length: 16 }, (_, number) => `e-${number}`).sort());
    assert.ok(users.every((user) => user.requests === 2));
    assert.match(one!.output(), /usage ledger failing/);
    assert.match(one!.output(), /usage ledger recovered/);
  });

  it('start three at once on an empty database: the migrations take turns and all three serve', async () => {
    const url = await cluster.createDatabase(`replicas_${++databases}`);
    const three = await replicas(3, url);
    const now = Date.now() - 60_000;
    const answers = await Promise.all(three.map((processor, index) => postExport(processor.url, exportOf(`m-${index}`, 1, now))));
    assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200]);
    for (const processor of three) assert.deepEqual((await allUsers(processor.url)).map((user) => user.userId), ['m-0', 'm-1', 'm-2']);
  });
});

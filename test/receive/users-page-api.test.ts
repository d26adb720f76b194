import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';
import { exportBody, postExport, type CallSpec } from '../ledger/otlp-bodies.ts';

const DAY = Date.UTC(2026, 10, 10, 12);
let processor: RunningProcessor;

async function get(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${processor.url}${path}`);
  const text = await response.text();
  return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

describe("the users API's additions for the Users page", () => {
  before(async () => {
    processor = await startProcessor({ PLAN_PRICES_USD: 'free=0,pro=20', PROPERTY_LABELS: 'plan,feature' });
    const calls: CallSpec[] = [
      // u%1 moved from free to pro: pro carries more of their requests.
      ...Array.from({ length: 3 }, (_, i) => ({ user: 'u%1', endMs: DAY + i, properties: { plan: 'pro', feature: 'chat' } })),
      { user: 'u%1', endMs: DAY + 10, properties: { plan: 'free', feature: 'chat' } },
      { user: 'u_2', endMs: DAY + 20, properties: { plan: 'free' }, error: true },
      { user: 'ux3', endMs: DAY + 30, properties: { plan: 'pro', feature: 'search' } },
    ];
    assert.equal((await postExport(processor.url, exportBody(calls))).status, 200);
  });
  after(() => processor?.stop());

  it('/api/meta names the configured properties and plan prices', async () => {
    assert.deepEqual((await get('/api/meta')).body, { propertyNames: ['plan', 'feature'], planPricesUsd: { free: 0, pro: 20 } });
  });

  it('/api/users?properties= gives each user the value carrying most of their requests', async () => {
    const { body } = await get('/api/users?month=2026-11&sort=userId&properties=plan,feature,absent');
    assert.deepEqual(body.users.map((user: any) => [user.userId, user.properties]), [
      ['u%1', { plan: 'pro', feature: 'chat' }], ['u_2', { plan: 'free' }], ['ux3', { plan: 'pro', feature: 'search' }],
    ]);
    assert.equal((await get('/api/users')).body.users[0].properties, undefined, 'only when asked for');
    assert.equal((await get(`/api/users?properties=${Array.from({ length: 21 }, (_, i) => `p${i}`).join(',')}`)).status, 400);
  });

  it('/api/users?search= matches a literal part of the id (% and _ are no wildcards), with the total of the matches', async () => {
    assert.deepEqual((await get('/api/users?search=%25')).body.users.map((user: any) => user.userId), ['u%1']);
    assert.deepEqual((await get('/api/users?search=_')).body.users.map((user: any) => user.userId), ['u_2']);
    const { body } = await get('/api/users?search=u&sort=userId&limit=1&offset=1');
    assert.deepEqual([body.users.map((user: any) => user.userId), body.total], [['u_2'], 3]);
    const csv = await get('/api/users.csv?search=u');
    assert.equal(csv.status, 400);
    assert.match(csv.body.error, /^search: /);
  });

  it('/api/overview sums every matching user, and per property value with its users', async () => {
    const { body } = await get('/api/overview?month=2026-11&properties=plan');
    assert.equal(body.users, 3);
    assert.equal(body.totals.requests, 6);
    assert.equal(body.totals.errors, 1);
    const plans = Object.fromEntries(body.byProperty.map((entry: any) => [entry.value, [entry.users, entry.requests, entry.name]]));
    assert.deepEqual(plans, { pro: [2, 4, 'plan'], free: [2, 2, 'plan'] });
    const filtered = (await get('/api/overview?month=2026-11&property.plan=pro&properties=feature')).body;
    assert.equal(filtered.users, 2);
    assert.deepEqual(filtered.byProperty.map((entry: any) => [entry.value, entry.requests]).sort(), [['chat', 3], ['search', 1]]);
    assert.equal((await get('/api/overview?month=2026-13')).status, 400);
    const cheap = (await get('/api/overview?month=2026-11&properties=&values=plan,feature')).body;
    assert.deepEqual([cheap.users, cheap.byProperty, cheap.values], [3, [], { plan: ['free', 'pro'], feature: ['', 'chat', 'search'] }],
      'the values any call carried ("" for calls without the property), without per-value sums');
  });

  it('/api/anomalies checks its parameters', async () => {
    assert.equal((await get('/api/anomalies?days=2')).status, 400);
    assert.equal((await get('/api/anomalies?limit=2')).status, 400);
    const { body } = await get('/api/anomalies?days=7');
    assert.equal(body.baselineDays, 7);
    assert.deepEqual(body.anomalies, [], 'nothing today');
  });
});

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';
import { formatValue, userPath } from '../../ui/src/model.ts';
import { launchBrowser, type Browser } from './browser.ts';
import { knownWorkload, sendWorkload } from './workload.ts';

const TOKEN = 'ui-test-token-0123456789';
const ARTIFACTS = new URL('../../test-artifacts/ui/', import.meta.url);

interface ApiUser extends Record<string, unknown> {
  userId: string;
  requests: number;
  costUsd: number;
  firstSeen: string;
  lastSeen: string;
  properties: Record<string, string>;
}

let processor: RunningProcessor;
let browser: Browser;
let page: Page;
/** Script errors and console errors (a Content-Security-Policy violation is one) the page reported. */
const pageErrors: string[] = [];

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`${processor.url}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(response.status, 200, `${path}: ${response.status}`);
  return response.json() as Promise<T>;
}

/** The value each column of the table shows for a user of /api/users, as the API gives it. */
function expectedCells(user: ApiUser): Record<string, string> {
  const activeFor = Date.parse(user.lastSeen) - Date.parse(user.firstSeen);
  return {
    userId: user.userId, activeFor: String(activeFor), lastSeen: user.lastSeen, requests: String(user.requests),
    avgRequestsPerDay: String(user.avgRequestsPerDay), avgTokensPerRequest: String(user.avgTokensPerRequest),
    costUsd: String(user.costUsd), costPerRequest: String(user.costUsd / user.requests), errors: String(user.errors),
    errorRate: String(user.errorRate), avgLatencyMs: String(user.avgLatencyMs),
    'property.plan': user.properties.plan ?? '', 'property.feature': user.properties.feature ?? '',
  };
}

/** Every row of the table as {column key: data-value}, once it shows `state` ok. */
async function tableCells(): Promise<Array<Record<string, string>>> {
  await page.locator('table.users[data-state="ok"]').waitFor();
  return page.locator('table.users tbody tr').evaluateAll((rows) => rows.map((row) => Object.fromEntries(
    [...row.querySelectorAll('td')].map((cell) => [cell.dataset.key!, cell.dataset.value!]))));
}

async function waitForUrl(part: string): Promise<void> {
  await page.waitForURL((url) => url.href.includes(part));
}

async function screenshot(name: string): Promise<URL> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = new URL(`${name}.png`, ARTIFACTS);
  await page.screenshot({ path: file.pathname, fullPage: false });
  return file;
}

describe('the Users page, in chromium, against the real processor', { timeout: 120_000 }, () => {
  before(async () => {
    processor = await startProcessor({ API_TOKEN: TOKEN, PLAN_PRICES_USD: 'free=0,pro=20,premium=50' });
    await sendWorkload(processor.url, knownWorkload(Date.now()));
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      // The sign-in's deliberate 401s are logged by chromium as failed loads; anything else is a fault.
      if (message.type() === 'error' && !/status of 401/.test(message.text())) pageErrors.push(message.text());
    });
  });
  after(async () => {
    await browser?.close();
    await processor?.stop();
  });

  it('asks for the API token, refuses a wrong one, and keeps the right one out of every URL', async () => {
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(`${processor.url}/`);
    await page.getByLabel('API token').fill('not-the-token-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token is not the one configured in API_TOKEN.').waitFor();
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('table.users[data-state="ok"]').waitFor();
    assert.ok(requested.length > 3);
    assert.ok(requested.every((url) => !url.includes(TOKEN)), 'the token never travels in a URL');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('llm-user-metrics.api-token')), TOKEN);
  });

  it('shows every figure of /api/users, in the locale, with the exact figure on hover, and the totals of the range', async () => {
    const range = new URL(page.url()).searchParams.get('range');
    assert.equal(range, null, 'the default range: the last 30 days');
    const today = new Date().toISOString().slice(0, 10);
    const from = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
    const reference = await api<{ users: ApiUser[]; total: number }>(`/api/users?from=${from}&to=${today}&properties=plan,feature`);
    assert.equal(reference.total, 8);
    assert.deepEqual(await tableCells(), reference.users.map(expectedCells));
    const cost = page.locator('table.users tbody tr').first().locator('td[data-key="costUsd"] span');
    assert.equal(await cost.textContent(), formatValue(reference.users[0]!.costUsd, 'usd', 'en-US'));
    assert.equal(await cost.getAttribute('title'), String(reference.users[0]!.costUsd));
    const overview = await api<{ users: number; totals: { requests: number; costUsd: number; errors: number } }>(`/api/overview?from=${from}&to=${today}`);
    const total = (key: string) => page.locator(`.totals [data-total="${key}"] span`).getAttribute('title');
    assert.equal(await total('users'), String(overview.users));
    assert.equal(await total('requests'), String(overview.totals.requests));
    assert.equal(await total('costUsd'), String(overview.totals.costUsd));
    assert.equal(await total('errors'), String(overview.totals.errors));
    await screenshot('users');
  });

  it('sorts by a column, both ways, as the API does', async () => {
    await page.getByRole('button', { name: 'Requests' }).click();
    await waitForUrl('sort=requests');
    const descending = await api<{ users: ApiUser[] }>(`/api/users?sort=requests&order=desc&properties=plan,feature&${rangeParams()}`);
    assert.deepEqual((await tableCells()).map((row) => row.userId), descending.users.map((user) => user.userId));
    await page.getByRole('button', { name: 'Requests ▼' }).click();
    await waitForUrl('order=asc');
    assert.equal(await page.locator('th[data-key="requests"]').getAttribute('aria-sort'), 'ascending');
    const ascending = await api<{ users: ApiUser[] }>(`/api/users?sort=requests&order=asc&${rangeParams()}`);
    assert.deepEqual((await tableCells()).map((row) => row.userId), ascending.users.map((user) => user.userId));
    assert.notDeepEqual(ascending.users.map((user) => user.userId), descending.users.map((user) => user.userId));
  });

  it('finds users by part of their id', async () => {
    await page.getByLabel('User id contains').fill('a');
    await page.getByRole('button', { name: 'Search' }).click();
    await waitForUrl('search=a');
    const found = await api<{ users: ApiUser[] }>(`/api/users?search=a&sort=requests&order=asc&${rangeParams()}`);
    assert.deepEqual((await tableCells()).map((row) => row.userId), found.users.map((user) => user.userId));
    assert.deepEqual(found.users.map((user) => user.userId).sort(), ['acme/ops "team"', 'alice', 'carol', 'dave', 'mallory']);
    await page.getByLabel('User id contains').fill('');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL((url) => !url.searchParams.has('search'));
  });

  it('filters by a property, and downloads exactly the rows shown as CSV', async () => {
    await page.getByLabel('plan').selectOption('pro');
    await waitForUrl('property.plan=pro');
    const pro = await api<{ users: ApiUser[] }>(`/api/users?property.plan=pro&sort=requests&order=asc&properties=plan,feature&${rangeParams()}`);
    const shown = await tableCells();
    assert.deepEqual(shown, pro.users.map(expectedCells));
    assert.deepEqual(shown.map((row) => row.userId).sort(), ['alice', 'erin']);
    await page.getByLabel('plan').selectOption('');
    await page.waitForURL((url) => !url.searchParams.has('property.plan'));
    const all = await tableCells();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const csv = readFileSync(await download.path(), 'utf8');
    const lines = csv.split('\r\n');
    assert.equal(lines.at(-1), '', 'CRLF after every line');
    assert.equal(lines[0], Object.keys(all[0]!).join(','));
    assert.equal(lines.length - 2, all.length);
    const formula = all.findIndex((row) => row.userId === '=HYPERLINK("x")');
    assert.ok(lines[formula + 1]!.startsWith(`"'=HYPERLINK(""x"")",`), 'a formula-like id is written as text');
    const slash = all.findIndex((row) => row.userId === 'acme/ops "team"');
    assert.ok(lines[slash + 1]!.startsWith('"acme/ops ""team""",'));
    const plain = all.findIndex((row) => row.userId === 'bob');
    assert.equal(lines[plain + 1], Object.values(all[plain]!).join(','));
  });

  it("shows a user's page with charts drawn and totals equal to /api/users/:id, at a URL that survives a reload", async () => {
    const userId = 'acme/ops "team"';
    await page.getByRole('link', { name: userId }).click();
    await waitForUrl(userPath(userId));
    const detail = await api<{ user: Record<string, unknown>; daily: unknown[] }>(`/api/users/${encodeURIComponent(userId)}?${rangeParams()}`);
    const check = async () => {
      await page.locator('.user-totals').waitFor();
      for (const key of ['costUsd', 'requests', 'totalTokens', 'errors', 'errorRate', 'avgLatencyMs', 'firstSeen', 'lastSeen']) {
        assert.equal(await page.locator(`.user-totals [data-total="${key}"]`).getAttribute('data-value'), String(detail.user[key]), key);
      }
      assert.equal(await page.locator('.chart canvas').count(), 5, 'five charts drawn');
      assert.equal(await page.locator('h1 code').textContent(), userId);
    };
    await check();
    assert.equal(detail.daily.length, 4);
    await screenshot('user');
    await page.reload();
    await check();
  });

  it('shows plans with revenue, cost and margin, and the least profitable users', async () => {
    await page.goto(`${processor.url}/plans?range=30d`);
    await page.locator('table.plans tbody tr').first().waitFor();
    const overview = await api<{ byProperty: Array<{ value: string; users: number; costUsd: number }> }>(`/api/overview?properties=plan&${rangeParams()}`);
    const pro = overview.byProperty.find((entry) => entry.value === 'pro')!;
    const months = (30 * 12) / 365.25;
    const cells = await page.locator('tr[data-plan="pro"] td span').evaluateAll((spans) => spans.map((span) => span.getAttribute('title')));
    assert.deepEqual(cells, [String(pro.users), '20', String(Math.round(pro.users * 20 * months * 100) / 100), String(pro.costUsd),
      String(Math.round(pro.users * 20 * months * 100) / 100 - pro.costUsd)]);
    assert.ok((await page.locator('table.least-profitable tbody tr').count()) > 0);
    await screenshot('plans');
  });

  it("lists today's anomalies with a link to the user", async () => {
    await page.getByRole('link', { name: 'Anomalies' }).click();
    await page.locator('table.anomalies').waitFor();
    const names = await page.locator('table.anomalies tbody th').allTextContents();
    assert.deepEqual(names, ['mallory']);
    await screenshot('anomalies');
  });

  it('reported no script error and no Content-Security-Policy violation meanwhile', () => {
    assert.deepEqual(pageErrors, []);
  });

  it('serves the page without the token, its API calls still need it', async () => {
    const page = await fetch(`${processor.url}/users/x`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script type="module" src="\/ui\/app-[\w]+\.js">/);
    assert.equal((await fetch(`${processor.url}/api/users`)).status, 401);
  });
});

function rangeParams(): string {
  const today = new Date().toISOString().slice(0, 10);
  const from = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
  return `from=${from}&to=${today}`;
}

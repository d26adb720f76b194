/**
 * The Users page at a million users: server time of its reads, time in chromium to the table drawn, and the bytes
 * the page transfers.
 *   node bench/ui.ts [--users 1000000] [--rounds 5] [--data DIR]
 * With --data, the ledger is built in DIR the first time and reused after that (default: data/bench-ui-<users>).
 * 1. A ledger of `users` users (one call each, a fifth of them a second), spread over the 30 days before now.
 * 2. The real processor on it: the median of `rounds` GETs of the page's first read (the top 100 of the last 30
 *    days by cost, with each user's plan and feature), of its totals (/api/overview), and of the Plans view's sums.
 * 3. Chromium (Debian's, headless): a cold load of / to the table's 100 rows drawn, then `rounds` reloads; the
 *    page's transferred bytes (gzip) by kind, from the Resource Timing entries.
 */
import { fillLedger } from './fill-ledger.ts';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startProcessor, type RunningProcessor } from '../test/helpers/processor.ts';
import { launchBrowser, type Browser } from '../test/ui/browser.ts';
import type { PricedUsage } from '../src/pricing/priced-usage.ts';
import { NO_TOKENS } from '../src/sources/usage-record.ts';

const { values } = parseArgs({
  options: { users: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '5' }, data: { type: 'string' } },
});
const USERS = Number(values.users);
const ROUNDS = Number(values.rounds);
const MS_PER_DAY = 86_400_000;
const DATA_DIR = values.data ?? new URL(`../data/bench-ui-${USERS}`, import.meta.url).pathname;

const median = (list: readonly number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)] ?? Number.NaN;

function* batches(endMs: number): Generator<PricedUsage[]> {
  const calls = Math.round(USERS * 1.2);
  let batch: PricedUsage[] = [];
  for (let index = 0; index < calls; index++) {
    const user = index < USERS ? index : (index * 7919) % USERS;
    const input = 100 + ((index * 37) % 4000);
    const output = (index * 53) % 800;
    batch.push({
      traceId: (index + 1).toString(16).padStart(32, '0'), spanId: (index + 1).toString(16).padStart(16, '0'), parentSpanId: '',
      source: 'genai', userId: `user-${String(user).padStart(7, '0')}`,
      properties: { plan: ['free', 'pro', 'premium'][user % 3]!, feature: ['chat', 'search'][user % 2]! },
      provider: 'openai', model: index % 2 === 0 ? 'gpt-4o-mini' : 'gpt-4o', operation: 'chat',
      tokens: { ...NO_TOKENS, input, output }, hasUsage: true, durationSeconds: 0.2 + (index % 30) / 10,
      timeToFirstTokenSeconds: undefined, isError: index % 31 === 0,
      endTimeMs: endMs - 29 * MS_PER_DAY + Math.floor((index / calls) * 29 * MS_PER_DAY), costNanoUsd: input * 150 + output * 600, priced: true,
    });
    if (batch.length === 512) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

async function serverMs(url: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url);
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return performance.now() - started;
}

async function main(): Promise<void> {
  console.log(`# bench/ui.ts on Node ${process.version}: ${USERS.toLocaleString('en')} users`);
  let processor: RunningProcessor | undefined;
  let browser: Browser | undefined;
  try {
    if (!existsSync(`${DATA_DIR}/ledger.sqlite`)) {
      const started = performance.now();
      const calls = await fillLedger(DATA_DIR, batches(Date.now() - 3_600_000));
      console.log(`ledger built in ${DATA_DIR}: ${calls.toLocaleString('en')} calls in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    processor = await startProcessor({ DATA_DIR, LOG_LEVEL: 'warn' });
    const today = new Date().toISOString().slice(0, 10);
    const from = new Date(Date.now() - 29 * MS_PER_DAY).toISOString().slice(0, 10);
    const firstRead = `${processor.url}/api/users?from=${from}&to=${today}&sort=costUsd&order=desc&limit=100&offset=0&properties=plan%2Cfeature`;
    const totals = `${processor.url}/api/overview?from=${from}&to=${today}&properties=&values=plan%2Cfeature`;
    const perPlan = `${processor.url}/api/overview?from=${from}&to=${today}&properties=plan`;
    const firstMs = await serverMs(firstRead);
    const users: number[] = [];
    const overview: number[] = [];
    const plans: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      users.push(await serverMs(firstRead));
      overview.push(await serverMs(totals));
      plans.push(await serverMs(perPlan));
    }
    console.log(`server: top 100 of 30 days by cost with plan and feature: first ${firstMs.toFixed(0)} ms, median ${median(users).toFixed(0)} ms of ${ROUNDS}`);
    console.log(`server: the page's totals of 30 days (/api/overview with the filters' values): median ${median(overview).toFixed(0)} ms`);
    console.log(`server: the Plans view's sums per plan over 30 days: median ${median(plans).toFixed(0)} ms`);

    browser = await launchBrowser();
    const page = await browser.context.newPage();
    const drawn: number[] = [];
    for (let round = 0; round <= ROUNDS; round++) {
      const started = performance.now();
      if (round === 0) await page.goto(`${processor.url}/`); else await page.reload();
      await page.locator('table.users[data-state="ok"] tbody tr:nth-child(100)').waitFor({ timeout: 60_000 });
      drawn.push(performance.now() - started);
      if (round === 0) {
        // Evaluated in the page (a string: this file is typed for Node, not the DOM).
        const bytes = await page.evaluate(`(() => {
          const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
          const sum = (test) => entries.filter((entry) => test(new URL(entry.name).pathname)).reduce((total, entry) => total + entry.transferSize, 0);
          return { page: sum((path) => !path.startsWith('/api/')), api: sum((path) => path.startsWith('/api/users')) };
        })()`) as { page: number; api: number };
        console.log(`browser: first load, transferred: page (html, script, stylesheet) ${(bytes.page / 1024).toFixed(1)} KB, first 100 users ${(bytes.api / 1024).toFixed(1)} KB`);
      }
    }
    console.log(`browser: to the table's 100 rows drawn: cold ${drawn[0]!.toFixed(0)} ms, reloads median ${median(drawn.slice(1)).toFixed(0)} ms of ${ROUNDS}`);
  } finally {
    await browser?.close();
    await processor?.stop();
  }
}

await main();

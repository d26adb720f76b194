import { exportBody, postExport, type CallSpec } from '../ledger/otlp-bodies.ts';

const MS_PER_DAY = 86_400_000;

/**
 * A known workload over the last two weeks, relative to `nowMs`: users on three plans, with errors, several models,
 * awkward ids (a slash, quotes, a formula), and "mallory", quiet for 13 days and busy today (an anomaly).
 */
export function knownWorkload(nowMs: number): CallSpec[] {
  const calls: CallSpec[] = [];
  const today = Math.floor(nowMs / MS_PER_DAY) * MS_PER_DAY;
  // Calls end within the past hour today, and at noon on earlier days: never in the future.
  const at = (daysAgo: number, minute: number) => (daysAgo === 0 ? Math.max(today, nowMs - 3_600_000) + minute * 1000 : today - daysAgo * MS_PER_DAY + 12 * 3_600_000 + minute * 1000);
  const users: Array<{ id: string; plan: string; perDay: number; days: number; model: string; errorsEvery?: number }> = [
    { id: 'alice', plan: 'pro', perDay: 6, days: 10, model: 'gpt-4o' },
    { id: 'bob', plan: 'premium', perDay: 9, days: 12, model: 'gpt-4o-mini' },
    { id: 'carol', plan: 'free', perDay: 2, days: 5, model: 'gpt-4o-mini' },
    { id: 'dave', plan: 'free', perDay: 4, days: 8, model: 'gpt-4o-mini', errorsEvery: 3 },
    { id: 'erin', plan: 'pro', perDay: 3, days: 3, model: 'gpt-4.1-nano' },
    { id: 'acme/ops "team"', plan: 'premium', perDay: 1, days: 4, model: 'gpt-4o' },
    { id: '=HYPERLINK("x")', plan: 'free', perDay: 1, days: 2, model: 'gpt-4o-mini' },
  ];
  for (const user of users) {
    for (let day = 0; day < user.days; day++) {
      for (let call = 0; call < user.perDay; call++) {
        calls.push({
          user: user.id, endMs: at(day, call), model: call % 3 === 2 ? 'gpt-4o-mini' : user.model,
          input: 400 + 37 * call + 11 * day, output: 120 + 13 * call,
          properties: { plan: user.plan, feature: call % 2 === 0 ? 'chat' : 'search' },
          error: user.errorsEvery !== undefined && call % user.errorsEvery === 0,
        });
      }
    }
  }
  for (let day = 1; day <= 13; day++) calls.push({ user: 'mallory', endMs: at(day, 0), properties: { plan: 'free', feature: 'chat' } });
  for (let call = 0; call < 150; call++) calls.push({ user: 'mallory', endMs: at(0, call), properties: { plan: 'free', feature: 'chat' } });
  return calls;
}

export async function sendWorkload(url: string, calls: readonly CallSpec[]): Promise<void> {
  for (let start = 0; start < calls.length; start += 200) {
    const response = await postExport(url, exportBody(calls.slice(start, start + 200)));
    if (response.status !== 200) throw new Error(`export answered ${response.status}: ${await response.text()}`);
  }
}

import type { PricedUsage } from '../src/pricing/priced-usage.ts';
import { SqliteLedger } from '../src/sinks/ledger/sqlite-ledger.ts';

/** Commits `batches` to a SQLite ledger in `dataDir`, four exports in flight as a busy processor would; the calls. */
export async function fillLedger(dataDir: string, batches: Iterable<PricedUsage[]>): Promise<number> {
  const ledger = new SqliteLedger({ dataDir, dedupWindowHours: 24, synchronous: 'normal' });
  const inFlight: Array<Promise<unknown>> = [];
  let calls = 0;
  for (const batch of batches) {
    calls += batch.length;
    inFlight.push(ledger.commit(batch));
    if (inFlight.length === 4) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  await ledger.close();
  return calls;
}

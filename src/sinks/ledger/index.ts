import type { Config } from '../../config.ts';
import type { LedgerHealth, MetricsRestoreSource, UsageLedger } from './ledger.ts';
import { SqliteLedger } from './sqlite-ledger.ts';

export type { LedgerHealth, MetricsRestoreSource, UsageLedger } from './ledger.ts';

/** The ledger the configuration asks for, or undefined with LEDGER=off. */
export function openLedger(config: Pick<Config, 'ledger' | 'dataDir' | 'dedupWindowHours' | 'ledgerSync'>,
  onHealthChange?: (health: LedgerHealth) => void): (UsageLedger & MetricsRestoreSource) | undefined {
  if (config.ledger === 'off') return undefined;
  return new SqliteLedger({
    dataDir: config.dataDir, dedupWindowHours: config.dedupWindowHours, synchronous: config.ledgerSync,
    ...(onHealthChange === undefined ? {} : { onHealthChange }),
  });
}

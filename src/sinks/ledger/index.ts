import type { Config } from '../../config.ts';
import type { LedgerHealth, MetricsRestoreSource, UsageLedger } from './ledger.ts';
import { PostgresLedger } from './postgres/pg-ledger.ts';
import { SqliteLedger } from './sqlite-ledger.ts';

export type { LedgerHealth, MetricsRestoreSource, UsageLedger } from './ledger.ts';

/**
 * A parked call another replica may take over once it is this much older than the attribution wait: long enough for
 * the replica that parked it to decide it (the wait is checked every second) and commit it.
 */
const PARKED_TAKEOVER_GRACE_MS = 15_000;

export interface OpenedLedger {
  readonly ledger: UsageLedger;
  /**
   * What lets /metrics continue from the ledger's all-time totals: only a ledger this process alone writes offers
   * it. A ledger shared by replicas does not (each would expose the whole total, and Prometheus would add them).
   */
  readonly metricsRestore: MetricsRestoreSource | undefined;
  /**
   * How often to ask `parked()` again while running: a shared ledger hands over the calls parked by a replica that
   * stopped. Undefined: only at start (one process owns the parking).
   */
  readonly takeOverParkedEveryMs: number | undefined;
  /** Where the ledger is, for the log (no password). */
  readonly where: Readonly<Record<string, string>>;
}

/** The ledger the configuration asks for (PostgreSQL with LEDGER_URL, else SQLite), or undefined with LEDGER=off. */
export async function openLedger(
  config: Pick<Config, 'ledger' | 'ledgerUrl' | 'dataDir' | 'dedupWindowHours' | 'ledgerSync' | 'ancestorWaitSeconds' | 'hourlyDetailDays'>,
  onHealthChange?: (health: LedgerHealth) => void,
): Promise<OpenedLedger | undefined> {
  if (config.ledger === 'off') return undefined;
  const health = onHealthChange === undefined ? {} : { onHealthChange };
  if (config.ledgerUrl !== '') {
    const ledger = await PostgresLedger.open({
      url: config.ledgerUrl, dedupWindowHours: config.dedupWindowHours,
      parkedStaleMs: config.ancestorWaitSeconds * 1000 + PARKED_TAKEOVER_GRACE_MS, hourlyDetailDays: config.hourlyDetailDays,
      ...health,
    });
    return {
      ledger, metricsRestore: undefined, where: { ledgerUrl: ledger.displayUrl },
      takeOverParkedEveryMs: Math.min(10_000, Math.max(1000, config.ancestorWaitSeconds * 1000)),
    };
  }
  const ledger = new SqliteLedger({
    dataDir: config.dataDir, dedupWindowHours: config.dedupWindowHours, synchronous: config.ledgerSync,
    hourlyDetailDays: config.hourlyDetailDays, ...health,
  });
  return { ledger, metricsRestore: ledger, takeOverParkedEveryMs: undefined, where: { dataDir: config.dataDir } };
}

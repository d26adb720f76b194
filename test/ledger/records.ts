import type { PricedUsage } from '../../src/pricing/priced-usage.ts';
import type { GroupSeriesNumbering } from '../../src/sinks/ledger/group-series.ts';
import { CALL_FIELDS, encodeCall, type GroupRequest } from '../../src/sinks/ledger/ledger-protocol.ts';
import { NO_TOKENS } from '../../src/sources/usage-record.ts';

let nextSpan = 1;

/** A priced call for ledger tests; each gets a fresh span id unless one is given. */
export function priced(overrides: Partial<PricedUsage> & { input?: number; output?: number } = {}): PricedUsage {
  const { input = 100, output = 50, ...rest } = overrides;
  return {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: (nextSpan++).toString(16).padStart(16, '0'),
    parentSpanId: '',
    source: 'genai',
    userId: 'alice',
    properties: { plan: 'pro' },
    provider: 'openai',
    model: 'gpt-4o-mini',
    operation: 'chat',
    tokens: { ...NO_TOKENS, input, output },
    hasUsage: true,
    durationSeconds: 0.25,
    timeToFirstTokenSeconds: undefined,
    isError: false,
    endTimeMs: Date.UTC(2026, 10, 26, 12, 30, 0),
    costNanoUsd: 45_000,
    priced: true,
    ...rest,
  };
}

/** The group commit the main thread (SqliteLedger) sends the writer for `records`, as one export's calls. */
export function groupRequestOf(numbering: GroupSeriesNumbering, records: readonly PricedUsage[], nowMs: number): GroupRequest {
  numbering.begin();
  const calls = new Float64Array(records.length * CALL_FIELDS);
  records.forEach((record, index) => encodeCall(calls, index, record, numbering.indexOf(record)));
  const series = numbering.end();
  return {
    op: 'group', nowMs, series: series.text, seriesNumbers: series.numbers, seriesReset: series.reset, calls,
    legacyKeys: undefined, items: [{ kind: 'commit', start: 0, end: records.length }],
  };
}

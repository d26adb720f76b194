import { NO_TOKENS, type TokenBuckets, type UsageRecord } from '../../src/sources/usage-record.ts';

/** A usage record for pricing tests: only provider, model, tokens, hasUsage and time matter to the pricer. */
export function usageRecord(
  provider: string,
  model: string,
  tokens: Partial<TokenBuckets> = {},
  overrides: Partial<UsageRecord> = {},
): UsageRecord {
  return {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    parentSpanId: '',
    source: 'genai',
    userId: 'user-1',
    properties: { plan: 'pro' },
    provider,
    model,
    operation: 'chat',
    tokens: { ...NO_TOKENS, ...tokens },
    hasUsage: true,
    durationSeconds: 1.5,
    timeToFirstTokenSeconds: undefined,
    isError: false,
    endTimeMs: Date.UTC(2026, 10, 26, 12, 0, 0),
    ...overrides,
  };
}

import type { Attributes, DecodedSpan } from '../../src/decode/span.ts';

let nextId = 1;

/** A decoded span for unit tests: a 1.5 s CLIENT span ending at 2026-11-01T12:00:00Z unless overridden. */
export function span(attributes: Attributes, overrides: Partial<DecodedSpan> = {}): DecodedSpan {
  const id = (nextId++).toString(16).padStart(16, '0');
  const end = Date.UTC(2026, 10, 1, 12, 0, 0);
  return {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: id,
    parentSpanId: '',
    name: 'chat gpt-4o-mini',
    kind: 3,
    startTimeMs: end - 1500,
    endTimeMs: end,
    statusCode: 0,
    statusMessage: '',
    attributes,
    scopeName: 'test',
    scopeVersion: '1.0.0',
    resource: {},
    ...overrides,
  };
}

import type { DecodedSpan } from '../decode/span.ts';
import { DEFAULT_USER_KEYS, genAiUsage, isGenAiSpan } from './genai.ts';
import type { UsageRecord } from './usage-record.ts';

export { MalformedSpanError } from './attributes.ts';

export interface SourceOptions {
  /** Attribute keys read as the end user, first present wins. */
  readonly userKeys: readonly string[];
}

export const DEFAULT_SOURCE_OPTIONS: SourceOptions = { userKeys: DEFAULT_USER_KEYS };

/**
 * Returns the function that turns a span into a usage record, or undefined when the span is not an LLM call.
 * It throws MalformedSpanError for an LLM span whose values cannot be right.
 */
export function createUsageExtractor(options: SourceOptions = DEFAULT_SOURCE_OPTIONS) {
  return function extractUsage(span: DecodedSpan): UsageRecord | undefined {
    if (isGenAiSpan(span)) return genAiUsage(span, options);
    return undefined;
  };
}

export type UsageExtractor = ReturnType<typeof createUsageExtractor>;

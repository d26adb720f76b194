import type { DecodedSpan } from '../decode/span.ts';
import type { UsageRecord } from './usage-record.ts';

/** What every source reads as "who" and "which properties"; configurable (USER_ATTRIBUTE_KEYS, PROPERTY_ATTRIBUTE_PREFIXES). */
export interface SourceOptions {
  /** Attribute keys read as the end user, first present wins. */
  readonly userKeys: readonly string[];
  /** Attribute key prefixes whose rest is a custom property name (`llm_user_metrics.property.plan` -> `plan`). */
  readonly propertyPrefixes: readonly string[];
}

/** One LLM call a source found on a span. */
export interface SourceCall {
  readonly record: UsageRecord;
  /**
   * True when the span is written from inside a provider SDK (the Anthropic SDK's own span), so another
   * instrumentation may have wrapped the same call in a span of its own: then that wrapper is the one counted.
   */
  readonly mayBeWrapped: boolean;
}

/**
 * One library's way of describing LLM calls. `matches` is a cheap test (scope name, a marker attribute); `read`
 * returns the call, or undefined for a span of the library that is part of a call without being the call (the
 * AI SDK's `ai.generateText` around its `doGenerate`, an agent span around its chat spans): those are never counted.
 */
export interface Source {
  readonly name: string;
  matches(span: DecodedSpan): boolean;
  read(span: DecodedSpan, options: SourceOptions): SourceCall | undefined;
}

export const call = (record: UsageRecord, mayBeWrapped = false): SourceCall => ({ record, mayBeWrapped });

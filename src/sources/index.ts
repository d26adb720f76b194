import type { DecodedSpan } from '../decode/span.ts';
import { anthropicSdkSource } from './anthropic-sdk.ts';
import { genAiSource } from './genai.ts';
import { DEFAULT_SOURCE_OPTIONS, propertiesOf, userOf } from './identity.ts';
import { MalformedSpanError } from './attributes.ts';
import { isReservedUserId, limitViolation, type CallLimits } from './limits.ts';
import { langfuseSource } from './langfuse.ts';
import { openInferenceSource } from './openinference.ts';
import { openLitSource } from './openlit.ts';
import { openLlmetrySource } from './openllmetry.ts';
import { otelContribSource } from './otel-contrib.ts';
import { ownSource } from './own.ts';
import type { Source, SourceCall, SourceOptions } from './source.ts';
import { vercelAiSource } from './vercel-ai.ts';
import { vercelAi7Source } from './vercel-ai7.ts';
import type { UsageRecord } from './usage-record.ts';

export { MalformedSpanError };
export { DEFAULT_PROPERTY_PREFIXES, DEFAULT_SOURCE_OPTIONS, DEFAULT_USER_KEYS } from './identity.ts';
export type { Source, SourceCall, SourceOptions } from './source.ts';
export type { CallLimits } from './limits.ts';

export interface SpanReaderOptions extends SourceOptions {
  /** Ceilings a call must keep to (the processor always sets them; unit tests of sources may not). */
  readonly limits?: CallLimits;
  /** The clock the end-time window is measured from. */
  readonly now?: () => number;
}

/**
 * Every source, most specific first: the first whose `matches` says yes reads the span, so a library-specific
 * module wins over the plain GenAI conventions that most of them also write. Adding a source is adding it here.
 */
export const SOURCES: readonly Source[] = [
  ownSource,
  anthropicSdkSource,
  vercelAiSource,
  vercelAi7Source,
  openInferenceSource,
  langfuseSource,
  openLitSource,
  openLlmetrySource,
  otelContribSource,
  genAiSource,
];

/** What one span says, for counting and for attributing calls beneath it. */
export interface SpanReading {
  readonly span: DecodedSpan;
  /** The LLM call on this span, if it is one to count. */
  readonly call: SourceCall | undefined;
  /** True when a source recognised the span as part of an LLM call (counted or not). */
  readonly llm: boolean;
  /** The user named on the span itself, whatever the span is (an HTTP server span with `enduser.id`, an agent span). */
  readonly userId: string | undefined;
  readonly properties: Readonly<Record<string, string>>;
}

/**
 * Returns the function that reads a span. It throws MalformedSpanError for an LLM span whose values cannot be right
 * or break a ceiling of `options.limits`, and for any span naming a reserved user id.
 */
export function createSpanReader(options: SpanReaderOptions = DEFAULT_SOURCE_OPTIONS, sources: readonly Source[] = SOURCES) {
  const { limits } = options;
  const now = options.now ?? Date.now;
  return function readSpan(span: DecodedSpan): SpanReading {
    const reading = readWithSources(span);
    if (reading.userId !== undefined && isReservedUserId(reading.userId)) {
      const key = options.userKeys.find((candidate) => String(span.attributes[candidate]) === reading.userId) ?? 'user id';
      throw new MalformedSpanError(`${key}: ${JSON.stringify(reading.userId)} is reserved (ids of the form __name__ name the processor's own series)`);
    }
    if (limits !== undefined && reading.call !== undefined) {
      const violation = limitViolation(reading.call.record, span, limits, now());
      if (violation !== undefined) throw new MalformedSpanError(violation);
    }
    return reading;
  };

  function readWithSources(span: DecodedSpan): SpanReading {
    for (const source of sources) {
      if (!source.matches(span)) continue;
      const found = source.read(span, options);
      if (found !== undefined) {
        return { span, call: found, llm: true, userId: found.record.userId, properties: found.record.properties };
      }
      return { span, call: undefined, llm: true, userId: userOf(span.attributes, options), properties: propertiesOf(span.attributes, options) };
    }
    const userId = userOf(span.attributes, options);
    // Properties only matter on spans that can lend them, i.e. those naming a user.
    return { span, call: undefined, llm: false, userId, properties: userId === undefined ? NONE : propertiesOf(span.attributes, options) };
  }
}

const NONE: Readonly<Record<string, string>> = Object.freeze({});

export type SpanReader = ReturnType<typeof createSpanReader>;

/**
 * The usage record of a span that is an LLM call to count, or undefined. Kept for callers that look at one span
 * alone; the processor reads spans with `createSpanReader` and attributes them with `src/attribution/`.
 */
export function createUsageExtractor(options: SourceOptions = DEFAULT_SOURCE_OPTIONS) {
  const read = createSpanReader(options);
  return function extractUsage(span: DecodedSpan): UsageRecord | undefined {
    return read(span).call?.record;
  };
}

export type UsageExtractor = ReturnType<typeof createUsageExtractor>;

import {
  ATTR_ERROR_TYPE,
} from '@opentelemetry/semantic-conventions';
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
  ATTR_GEN_AI_SYSTEM,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_COMPLETION_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_PROMPT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
} from '@opentelemetry/semantic-conventions/incubating';
import { StatusCode, type DecodedSpan } from '../decode/span.ts';
import { boundedText } from './bounded-text.ts';
import { firstString, firstTokenCount, MalformedSpanError } from './attributes.ts';
import { DEFAULT_USER_KEYS, propertiesOf, userOf } from './identity.ts';
import { call, type Source, type SourceOptions } from './source.ts';
import { SEARCH_CONTEXT_SIZES, type SearchContextSize, type TokenBuckets, type UsageRecord } from './usage-record.ts';
import { CACHE_WRITE_1H_ATTRIBUTE, SEARCH_CONTEXT_SIZE_ATTRIBUTE } from '../wire/attributes.ts';

export { DEFAULT_USER_KEYS };

/** The Anthropic SDK writes the cache-creation count under this name instead of the conventions' `cache_creation`. */
export const ATTR_CACHE_WRITE_INPUT_TOKENS = 'gen_ai.usage.cache_write.input_tokens';

const PROVIDER_KEYS = [ATTR_GEN_AI_PROVIDER_NAME, ATTR_GEN_AI_SYSTEM];
const INPUT_KEYS = [ATTR_GEN_AI_USAGE_INPUT_TOKENS, ATTR_GEN_AI_USAGE_PROMPT_TOKENS];
const OUTPUT_KEYS = [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, ATTR_GEN_AI_USAGE_COMPLETION_TOKENS];
const CACHE_WRITE_KEYS = [ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, ATTR_CACHE_WRITE_INPUT_TOKENS];
/** OpenLIT writes reasoning (Responses API) as `gen_ai.usage.reasoning_tokens`, inside output_tokens as usual. */
const REASONING_KEYS = [ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 'gen_ai.usage.reasoning_tokens'];

/** Kept for callers written before the sources shared one options type. */
export type GenAiOptions = SourceOptions;

/**
 * Operations that wrap LLM calls rather than being one: an agent's usage is the total over the chat spans beneath it
 * (the AI SDK 7 writes `gen_ai.usage.*` on both), so counting it would count every call twice.
 */
export const WRAPPER_OPERATIONS: ReadonlySet<string> = new Set(['invoke_agent', 'create_agent', 'agent_step', 'execute_tool', 'invoke_workflow']);

/** How a writer of GenAI attributes counts its input tokens. */
export interface GenAiDialect {
  readonly source: string;
  /**
   * True (the conventions) when `input_tokens` includes cache reads and writes; false for writers that copy
   * Anthropic's uncached `input_tokens` as is (OpenLIT).
   */
  readonly inputIncludesCache: boolean;
}

const CONVENTIONS: GenAiDialect = { source: 'genai', inputIncludesCache: true };

/** A span is an LLM call under the GenAI conventions when it names an operation or a model. */
export function isGenAiSpan(span: DecodedSpan): boolean {
  const attributes = span.attributes;
  return attributes[ATTR_GEN_AI_OPERATION_NAME] !== undefined
    || attributes[ATTR_GEN_AI_REQUEST_MODEL] !== undefined
    || attributes[ATTR_GEN_AI_RESPONSE_MODEL] !== undefined;
}

/**
 * Turns a span written to the OpenTelemetry GenAI conventions into a usage record. The conventions count cache
 * tokens inside `input_tokens` and reasoning tokens inside `output_tokens`; the split into disjoint buckets happens
 * here, once.
 */
export function genAiUsage(span: DecodedSpan, options: SourceOptions, dialect: GenAiDialect = CONVENTIONS): UsageRecord {
  const attributes = span.attributes;
  const inputTotal = firstTokenCount(attributes, INPUT_KEYS);
  const outputTotal = firstTokenCount(attributes, OUTPUT_KEYS);
  const cacheRead = firstTokenCount(attributes, [ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]) ?? 0;
  const cacheWrite = firstTokenCount(attributes, CACHE_WRITE_KEYS) ?? 0;
  const tokens = splitConventionTokens({
    inputTotal: (inputTotal ?? 0) + (dialect.inputIncludesCache ? 0 : cacheRead + cacheWrite),
    outputTotal: outputTotal ?? 0,
    cacheRead,
    cacheWrite,
    reasoning: firstTokenCount(attributes, REASONING_KEYS) ?? 0,
    cacheWrite1h: firstTokenCount(attributes, [CACHE_WRITE_1H_ATTRIBUTE]) ?? 0,
  });
  const ttft = attributes[ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK];
  const searchContextSize = searchContextSizeOf(attributes[SEARCH_CONTEXT_SIZE_ATTRIBUTE]);
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    source: dialect.source,
    userId: userOf(attributes, options),
    properties: propertiesOf(attributes, options),
    // Span text becomes label text: bounded here, once, so /metrics, the ledger and the API agree on it.
    provider: boundedText((firstString(attributes, PROVIDER_KEYS) ?? '').toLowerCase()),
    model: boundedText(firstString(attributes, [ATTR_GEN_AI_RESPONSE_MODEL, ATTR_GEN_AI_REQUEST_MODEL]) ?? ''),
    operation: boundedText(firstString(attributes, [ATTR_GEN_AI_OPERATION_NAME]) ?? ''),
    tokens,
    hasUsage: inputTotal !== undefined || outputTotal !== undefined,
    durationSeconds: Math.max(0, span.endTimeMs - span.startTimeMs) / 1000,
    timeToFirstTokenSeconds: typeof ttft === 'number' && ttft >= 0 ? ttft : undefined,
    isError: span.statusCode === StatusCode.ERROR || attributes[ATTR_ERROR_TYPE] !== undefined,
    endTimeMs: span.endTimeMs,
    // Only when the span says: most calls are not search-grounded, and their records keep their usual shape.
    ...(searchContextSize === undefined ? {} : { searchContextSize }),
  };
}

/**
 * A tier name we know, or undefined. An unknown value is not an error: the call is still counted, its request fee
 * taken at the provider's default tier (docs/pricing.md), rather than the whole call rejected over a new tier name.
 */
export function searchContextSizeOf(value: unknown): SearchContextSize | undefined {
  if (typeof value !== 'string') return undefined;
  const size = value.trim().toLowerCase();
  return SEARCH_CONTEXT_SIZES.find((known) => known === size);
}

export interface ConventionTokens {
  /** Input tokens including cache reads and cache writes. */
  readonly inputTotal: number;
  /** Output tokens including reasoning. */
  readonly outputTotal: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly reasoning: number;
  /** The part of cacheWrite written to a one-hour cache (0 when none or unknown). */
  readonly cacheWrite1h?: number;
}

/** From totals that include their parts to disjoint buckets. Parts larger than their total mean a broken span. */
export function splitConventionTokens(counts: ConventionTokens): TokenBuckets {
  const uncachedInput = counts.inputTotal - counts.cacheRead - counts.cacheWrite;
  if (uncachedInput < 0) {
    throw new MalformedSpanError(
      `cache tokens (${counts.cacheRead} read + ${counts.cacheWrite} write) exceed input_tokens (${counts.inputTotal})`);
  }
  if (counts.reasoning > counts.outputTotal) {
    throw new MalformedSpanError(
      `reasoning tokens (${counts.reasoning}) exceed output_tokens (${counts.outputTotal})`);
  }
  const cacheWrite1h = counts.cacheWrite1h ?? 0;
  if (cacheWrite1h > counts.cacheWrite) {
    throw new MalformedSpanError(
      `one-hour cache write tokens (${cacheWrite1h}) exceed cache write tokens (${counts.cacheWrite})`);
  }
  const tokens: TokenBuckets = {
    input: uncachedInput,
    output: counts.outputTotal,
    cacheRead: counts.cacheRead,
    cacheWrite: counts.cacheWrite,
    reasoning: counts.reasoning,
  };
  // Only when there is one: records without one-hour writes keep the shape every other stage and test expects.
  return cacheWrite1h > 0 ? { ...tokens, cacheWrite1h } : tokens;
}

/** Spans that follow the GenAI conventions and no library-specific source claimed: counted unless they wrap calls. */
export const genAiSource: Source = {
  name: 'genai',
  matches: isGenAiSpan,
  read(span, options) {
    const operation = span.attributes[ATTR_GEN_AI_OPERATION_NAME];
    if (typeof operation === 'string' && WRAPPER_OPERATIONS.has(operation)) return undefined;
    return call(genAiUsage(span, options));
  },
};

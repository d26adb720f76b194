import type { DecodedSpan } from '../decode/span.ts';
import { firstString, MalformedSpanError } from './attributes.ts';
import { usageRecord } from './record.ts';
import { call, type Source } from './source.ts';
import { NO_TOKENS, type TokenBuckets } from './usage-record.ts';

const TYPE = 'langfuse.observation.type';
const USAGE = 'langfuse.observation.usage_details';

/** Observation types that are one model request; spans, events, agents, tools, chains are not counted. */
const OPERATION_BY_TYPE: Readonly<Record<string, string>> = { generation: 'chat', embedding: 'embeddings' };

/**
 * Langfuse's JS SDK (`@langfuse/openai` + `@langfuse/otel`), scope `langfuse-sdk`: usage is a JSON object in
 * `langfuse.observation.usage_details` with disjoint buckets (`input` without cached tokens, `output` without
 * reasoning, audio and prediction tokens), the model in `langfuse.observation.model.name`, and no provider at all.
 * Failures keep status UNSET and say `langfuse.observation.level=ERROR`.
 */
export const langfuseSource: Source = {
  name: 'langfuse',
  matches: (span) => span.scopeName === 'langfuse-sdk' || typeof span.attributes[TYPE] === 'string',
  read(span, options) {
    const type = span.attributes[TYPE];
    let operation = typeof type === 'string' ? OPERATION_BY_TYPE[type] : undefined;
    if (operation === undefined) return undefined;
    if (span.name.endsWith('.embeddings')) operation = 'embeddings';
    const usage = span.attributes[USAGE];
    const tokens = usage === undefined ? undefined : langfuseTokens(usage);
    return call(usageRecord(span, options, {
      source: 'langfuse',
      provider: providerFromSpanName(span),
      model: firstString(span.attributes, ['langfuse.observation.model.name']) ?? '',
      operation,
      hasUsage: tokens !== undefined,
      tokens: tokens ?? NO_TOKENS,
      failed: span.attributes['langfuse.observation.level'] === 'ERROR',
    }));
  },
};

/** `OpenAI.chat` -> openai: the wrapper names its spans after the client it wraps. */
function providerFromSpanName(span: DecodedSpan): string {
  const dot = span.name.indexOf('.');
  const client = dot === -1 ? '' : span.name.slice(0, dot).toLowerCase();
  return client === 'openai' || client === 'anthropic' ? client : '';
}

/**
 * Langfuse's usage details to disjoint buckets. Every key is its own bucket: `input`, `input_*` (audio, ...) are
 * uncached input, `input_cached_tokens` / `*cache_read*` cache reads, `*cache_creation*` / `*cache_write*` cache
 * writes, `output` and every `output_*` output (reasoning among them). `total` is their sum and is only checked.
 */
export function langfuseTokens(raw: unknown): TokenBuckets {
  let details: unknown;
  try {
    details = typeof raw === 'string' ? JSON.parse(raw) : raw;
  } catch {
    throw new MalformedSpanError(`${USAGE} is not JSON: ${String(raw).slice(0, 80)}`);
  }
  if (typeof details !== 'object' || details === null || Array.isArray(details)) {
    throw new MalformedSpanError(`${USAGE} is not a JSON object`);
  }
  const buckets = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 };
  let total: number | undefined;
  for (const [key, value] of Object.entries(details as Record<string, unknown>)) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new MalformedSpanError(`${USAGE}.${key} is not a non-negative whole number: ${JSON.stringify(value)}`);
    }
    if (key === 'total') total = value;
    else if (key.includes('cache_read') || key === 'input_cached_tokens') buckets.cacheRead += value;
    else if (key.includes('cache_creation') || key.includes('cache_write')) buckets.cacheWrite += value;
    else if (key.startsWith('output')) {
      buckets.output += value;
      if (key.includes('reasoning')) buckets.reasoning += value;
    } else if (key.startsWith('input')) buckets.input += value;
    else throw new MalformedSpanError(`${USAGE}.${key}: unknown usage bucket`);
  }
  const sum = buckets.input + buckets.output + buckets.cacheRead + buckets.cacheWrite;
  if (total !== undefined && total !== sum) {
    throw new MalformedSpanError(`${USAGE}: buckets add up to ${sum}, total says ${total}`);
  }
  return buckets;
}

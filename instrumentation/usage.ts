/**
 * Token usage as the providers report it, mapped to the GenAI conventions: input and output are totals that include
 * the cache and reasoning parts. OpenAI reports them that way already; Anthropic reports its cache reads and writes
 * beside an uncached input count, so they are added back.
 */
import type { Attributes } from '@opentelemetry/api';
import { asJson, type Json } from './json.ts';

export interface TokenUsage {
  readonly input?: number;
  readonly output?: number;
  readonly cacheRead?: number;
  readonly cacheCreation?: number;
  readonly reasoning?: number;
}

const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.trunc(value) : undefined;

function compact(usage: { [K in keyof TokenUsage]: number | undefined }): TokenUsage {
  const out: { -readonly [K in keyof TokenUsage]: number } = {};
  for (const [key, value] of Object.entries(usage) as [keyof TokenUsage, number | undefined][]) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** Chat Completions, legacy Completions and Embeddings `usage`. */
export function openaiChatUsage(usage: unknown): TokenUsage | undefined {
  if (typeof usage !== 'object' || usage === null) return undefined;
  const u = usage as Json;
  return compact({
    input: count(u.prompt_tokens),
    output: count(u.completion_tokens),
    cacheRead: count(asJson(u.prompt_tokens_details).cached_tokens),
    reasoning: count(asJson(u.completion_tokens_details).reasoning_tokens),
  });
}

/** Responses API `usage`. */
export function openaiResponsesUsage(usage: unknown): TokenUsage | undefined {
  if (typeof usage !== 'object' || usage === null) return undefined;
  const u = usage as Json;
  return compact({
    input: count(u.input_tokens),
    output: count(u.output_tokens),
    cacheRead: count(asJson(u.input_tokens_details).cached_tokens),
    reasoning: count(asJson(u.output_tokens_details).reasoning_tokens),
  });
}

/** Anthropic Messages `usage` (whole, or the cumulative one of a stream's last `message_delta`). */
export function anthropicUsage(usage: unknown): TokenUsage | undefined {
  if (typeof usage !== 'object' || usage === null) return undefined;
  const u = usage as Json;
  const uncached = count(u.input_tokens);
  const cacheRead = count(u.cache_read_input_tokens);
  const cacheCreation = count(u.cache_creation_input_tokens);
  const input = uncached === undefined ? undefined : uncached + (cacheRead ?? 0) + (cacheCreation ?? 0);
  return compact({ input, output: count(u.output_tokens), cacheRead, cacheCreation });
}

export function usageAttributes(usage: TokenUsage): Attributes {
  const attributes: Attributes = {};
  if (usage.input !== undefined) attributes['gen_ai.usage.input_tokens'] = usage.input;
  if (usage.output !== undefined) attributes['gen_ai.usage.output_tokens'] = usage.output;
  if (usage.cacheRead !== undefined) attributes['gen_ai.usage.cache_read.input_tokens'] = usage.cacheRead;
  if (usage.cacheCreation !== undefined) attributes['gen_ai.usage.cache_creation.input_tokens'] = usage.cacheCreation;
  if (usage.reasoning !== undefined) attributes['gen_ai.usage.reasoning.output_tokens'] = usage.reasoning;
  return attributes;
}

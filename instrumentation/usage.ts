/**
 * Token usage as the providers report it, mapped to the GenAI conventions: input and output are totals that include
 * the cache and reasoning parts. OpenAI reports them that way already; Anthropic reports its cache reads and writes
 * beside an uncached input count, so they are added back.
 */
import type { Attributes } from '@opentelemetry/api';
import { CACHE_WRITE_1H_ATTRIBUTE, SEARCH_CONTEXT_SIZE_ATTRIBUTE } from '../src/wire/attributes.ts';
import { asJson, type Json } from './json.ts';

export interface TokenUsage {
  readonly input?: number;
  readonly output?: number;
  readonly cacheRead?: number;
  readonly cacheCreation?: number;
  /** The part of cacheCreation written to a one-hour cache (Anthropic bills it apart). */
  readonly cacheCreation1h?: number;
  readonly reasoning?: number;
  /** The web search tier the call used, where the provider reports it (Perplexity); it sets the request fee. */
  readonly searchContextSize?: SearchContextSize;
}

export type SearchContextSize = 'low' | 'medium' | 'high';

/** Perplexity's tiers only: anything else is left off the span rather than copied from a response into it. */
export function searchContextSize(value: unknown): SearchContextSize | undefined {
  return value === 'low' || value === 'medium' || value === 'high' ? value : undefined;
}

const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.trunc(value) : undefined;

function compact(usage: { [K in keyof TokenUsage]: TokenUsage[K] | undefined }): TokenUsage {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(usage)) {
    if (value !== undefined) out[key] = value;
  }
  return out as TokenUsage;
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
    searchContextSize: searchContextSize(u.search_context_size),
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
  // The split by time to live; a one-hour count beyond the cache writes reported cannot be right and is left off.
  const cacheCreation1h = count(asJson(u.cache_creation).ephemeral_1h_input_tokens);
  return compact({
    input, output: count(u.output_tokens), cacheRead, cacheCreation,
    cacheCreation1h: cacheCreation1h !== undefined && cacheCreation1h <= (cacheCreation ?? 0) ? cacheCreation1h : undefined,
  });
}

export function usageAttributes(usage: TokenUsage): Attributes {
  const attributes: Attributes = {};
  if (usage.input !== undefined) attributes['gen_ai.usage.input_tokens'] = usage.input;
  if (usage.output !== undefined) attributes['gen_ai.usage.output_tokens'] = usage.output;
  if (usage.cacheRead !== undefined) attributes['gen_ai.usage.cache_read.input_tokens'] = usage.cacheRead;
  if (usage.cacheCreation !== undefined) attributes['gen_ai.usage.cache_creation.input_tokens'] = usage.cacheCreation;
  if (usage.reasoning !== undefined) attributes['gen_ai.usage.reasoning.output_tokens'] = usage.reasoning;
  if (usage.cacheCreation1h !== undefined) attributes[CACHE_WRITE_1H_ATTRIBUTE] = usage.cacheCreation1h;
  if (usage.searchContextSize !== undefined) attributes[SEARCH_CONTEXT_SIZE_ATTRIBUTE] = usage.searchContextSize;
  return attributes;
}

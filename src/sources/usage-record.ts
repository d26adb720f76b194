/**
 * The usage of one LLM call, as every stage after `sources/` sees it. A span becomes a usage record once; pricing,
 * metrics and the ledger never look at span attributes.
 */
export interface UsageRecord {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  /** Which source module recognised the span (`genai`, `openinference`, ...). */
  readonly source: string;
  /** The end user, or undefined when the span names none (see NO_USER in sinks). */
  readonly userId: string | undefined;
  /** Custom properties by lower-case name (`plan` -> `premium`). */
  readonly properties: Readonly<Record<string, string>>;
  /** Provider as the OpenTelemetry GenAI conventions name it (`openai`, `anthropic`, `gcp.gemini`, ...), or ''. */
  readonly provider: string;
  /** The model that answered (response model, else request model), or ''. */
  readonly model: string;
  /** `chat`, `text_completion`, `embeddings`, ... or '' when the span does not say. */
  readonly operation: string;
  readonly tokens: TokenBuckets;
  /** False when the span reported no usage at all (a stream without usage, a failed call). */
  readonly hasUsage: boolean;
  readonly durationSeconds: number;
  /** Time to first token of a streamed call, when the span has it. */
  readonly timeToFirstTokenSeconds: number | undefined;
  readonly isError: boolean;
  /** When the call ended, in milliseconds since the Unix epoch. */
  readonly endTimeMs: number;
  /**
   * The web search tier a search-grounded call used (Perplexity's `search_context_size`), which sets its request
   * fee; undefined when the span does not say (priced at the provider's documented default, see docs/pricing.md).
   */
  readonly searchContextSize?: SearchContextSize | undefined;
}

export type SearchContextSize = 'low' | 'medium' | 'high';

export const SEARCH_CONTEXT_SIZES: readonly SearchContextSize[] = Object.freeze(['low', 'medium', 'high']);

/**
 * Disjoint token counts: every token of the call is in exactly one of input, output, cacheRead and cacheWrite, so
 * that summing them counts it once and pricing charges it once. `reasoning` is not a bucket of its own: it is the
 * part of `output` that was reasoning; `cacheWrite1h` likewise is the part of `cacheWrite` kept for an hour.
 */
export interface TokenBuckets {
  /** Input tokens that were neither read from nor written to a prompt cache. */
  readonly input: number;
  /** Output tokens, reasoning included. */
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
  readonly reasoning: number;
  /**
   * The part of `cacheWrite` written to a one-hour cache (Anthropic bills it at 2x input, a five-minute write at
   * 1.25x); absent or 0 when none was, or the span does not say. Like `reasoning`, not a bucket of its own.
   */
  readonly cacheWrite1h?: number | undefined;
}

export const NO_TOKENS: TokenBuckets = Object.freeze({ input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 });

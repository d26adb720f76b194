/**
 * The span attributes of our own namespace: written by the instrumentation (instrumentation/, which runs inside apps)
 * and read by the processor (src/sources/). Both sides import them from here, so the contract is spelled once.
 * It lives under src/ because the package build ships src/ and instrumentation/ together, and the processor's
 * pipeline imports nothing from instrumentation/.
 */

/** `true` on every span our instrumentation writes: the span that counts the call (the processor's own source). */
export const INSTRUMENTED_ATTRIBUTE = 'llm_user_metrics.instrumented';

/** A custom property: `llm_user_metrics.property.<name>`, the name lower-cased. */
export const PROPERTY_ATTRIBUTE_PREFIX = 'llm_user_metrics.property.';

/** `true` when the instrumentation asked for usage on a stream the app had not asked it for. */
export const USAGE_REQUESTED_ATTRIBUTE = 'llm_user_metrics.stream.usage_requested';

/** `true` when a stream ended before saying it was done (break, abort, dropped unread). */
export const STREAM_INCOMPLETE_ATTRIBUTE = 'llm_user_metrics.stream.incomplete';

/**
 * The part of `gen_ai.usage.cache_creation.input_tokens` written to a one-hour cache (Anthropic's
 * `usage.cache_creation.ephemeral_1h_input_tokens`), which is billed at a higher rate than a five-minute write.
 */
export const CACHE_WRITE_1H_ATTRIBUTE = 'llm_user_metrics.usage.cache_creation.1h.input_tokens';

/**
 * The web search tier of a search-grounded call (`low`, `medium`, `high`): Perplexity's response
 * `usage.search_context_size`, else the request's `web_search_options.search_context_size`. It sets the request fee.
 */
export const SEARCH_CONTEXT_SIZE_ATTRIBUTE = 'llm_user_metrics.search_context_size';

/**
 * `true` beside STREAM_INCOMPLETE_ATTRIBUTE when the app itself ended the stream early (break, abort, dropped unread):
 * its choice, not a failure. An incomplete stream without it was cut off on the provider's side, an error.
 */
export const STREAM_STOPPED_BY_APP_ATTRIBUTE = 'llm_user_metrics.stream.stopped_by_app';

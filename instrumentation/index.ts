/** The public API of llm-user-metrics for apps: tag calls with a user, or add our instrumentations to your own SDK. */
export { withUser, withProperties, type Properties } from './context.ts';
export { OpenAIInstrumentation, type OpenAIInstrumentationConfig } from './openai/instrumentation.ts';
export { AnthropicInstrumentation } from './anthropic/instrumentation.ts';
export { startInstrumentation, type StartOptions, type StartedInstrumentation } from './start.ts';
export { INSTRUMENTED_ATTRIBUTE, PROPERTY_ATTRIBUTE_PREFIX } from '../src/wire/attributes.ts';
export { TIME_TO_FIRST_CHUNK_ATTRIBUTE } from './llm-call.ts';

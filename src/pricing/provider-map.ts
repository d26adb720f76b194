import { findProvider } from '@pydantic/genai-prices';

/**
 * OpenTelemetry GenAI provider names (`gen_ai.provider.name`, and the older `gen_ai.system` spellings) -> the price
 * catalogue's provider ids. Written out on purpose: left to itself the catalogue matches names loosely (`contains:
 * "openai"`), which prices `azure.ai.openai` at OpenAI's list and finds nothing at all for `x_ai`.
 */
export const CATALOGUE_PROVIDER_BY_CONVENTION_NAME: Readonly<Record<string, string>> = Object.freeze({
  openai: 'openai',
  anthropic: 'anthropic',
  // All three Google endpoints bill the same list; the catalogue's `google` falls back to Anthropic for Claude on Vertex.
  'gcp.gemini': 'google',
  'gcp.vertex_ai': 'google',
  'gcp.gen_ai': 'google',
  'aws.bedrock': 'aws',
  // Azure has its own (Global deployment) prices and falls back to OpenAI, Anthropic, DeepSeek, xAI and Moonshot.
  'azure.ai.openai': 'azure',
  'azure.ai.inference': 'azure',
  cohere: 'cohere',
  deepseek: 'deepseek',
  groq: 'groq',
  mistral_ai: 'mistral',
  moonshot_ai: 'moonshotai',
  perplexity: 'perplexity',
  x_ai: 'x-ai',
  // Deprecated `gen_ai.system` values that older instrumentations still send.
  'az.ai.openai': 'azure',
  'az.ai.inference': 'azure',
  gemini: 'google',
  vertex_ai: 'google',
  xai: 'x-ai',
});

/**
 * Conventions names with no provider in the catalogue: their models are looked up by id alone (so `gpt-4o` served
 * through watsonx is still found under OpenAI), and overrides are the way to give them their own prices.
 */
export const CONVENTION_NAMES_WITHOUT_CATALOGUE_PROVIDER: readonly string[] = Object.freeze(['ibm.watsonx.ai']);

/**
 * The catalogue provider id to look a model up under, or undefined to let the catalogue find the model by its id
 * alone. A name that is not a conventions name but is exactly a catalogue id (`openrouter`, `together`, `fireworks`)
 * is taken as that id: instrumentations outside the conventions' list tend to write the provider's own name.
 */
export function catalogueProviderFor(conventionName: string): string | undefined {
  const name = conventionName.trim().toLowerCase();
  if (name === '') return undefined;
  const mapped = CATALOGUE_PROVIDER_BY_CONVENTION_NAME[name];
  if (mapped !== undefined) return mapped;
  return isCatalogueProviderId(name) ? name : undefined;
}

function isCatalogueProviderId(id: string): boolean {
  // findProvider also tries loose `provider_match` rules; only an exact id counts here.
  return findProvider({ providerId: id })?.id === id;
}

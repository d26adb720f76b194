import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calcPrice } from '@pydantic/genai-prices';
import { findCatalogueModel } from '../../src/pricing/catalogue.ts';
import {
  CATALOGUE_PROVIDER_BY_CONVENTION_NAME,
  CONVENTION_NAMES_WITHOUT_CATALOGUE_PROVIDER,
  catalogueProviderFor,
} from '../../src/pricing/provider-map.ts';

/** Each conventions name with a model that provider serves, and the catalogue provider it must be priced under. */
const CASES: ReadonlyArray<readonly [conventionName: string, model: string, catalogueProvider: string]> = [
  ['openai', 'gpt-4o-mini', 'openai'],
  ['anthropic', 'claude-3-5-haiku-20241022', 'anthropic'],
  ['gcp.gemini', 'gemini-2.5-pro', 'google'],
  ['gcp.vertex_ai', 'gemini-2.5-pro', 'google'],
  ['gcp.gen_ai', 'gemini-2.5-flash', 'google'],
  ['aws.bedrock', 'anthropic.claude-3-5-haiku-20241022-v1:0', 'aws'],
  ['azure.ai.openai', 'gpt-4o', 'azure'],
  ['azure.ai.inference', 'DeepSeek-R1', 'azure'],
  ['cohere', 'command-r-plus', 'cohere'],
  ['deepseek', 'deepseek-chat', 'deepseek'],
  ['groq', 'llama-3.1-8b-instant', 'groq'],
  ['mistral_ai', 'mistral-large-latest', 'mistral'],
  ['moonshot_ai', 'kimi-k2', 'moonshotai'],
  ['perplexity', 'sonar', 'perplexity'],
  ['x_ai', 'grok-3', 'x-ai'],
  ['az.ai.openai', 'gpt-4o-mini', 'azure'],
  ['az.ai.inference', 'DeepSeek-R1', 'azure'],
  ['gemini', 'gemini-2.5-pro', 'google'],
  ['vertex_ai', 'gemini-2.5-pro', 'google'],
  ['xai', 'grok-3', 'x-ai'],
];

describe('provider map', () => {
  it('has a tested case for every entry', () => {
    assert.deepEqual(
      CASES.map(([name]) => name).sort(),
      Object.keys(CATALOGUE_PROVIDER_BY_CONVENTION_NAME).sort(),
    );
  });

  for (const [name, model, catalogueProvider] of CASES) {
    it(`prices ${name} ${model} under the catalogue's ${catalogueProvider}`, () => {
      assert.equal(catalogueProviderFor(name), catalogueProvider);
      const found = findCatalogueModel(name, model);
      assert.equal(found?.providerId, catalogueProvider, `${name} ${model} resolved to ${found?.providerId}/${found?.modelId}`);
    });
  }

  it('exists because the catalogue alone gets these wrong', () => {
    // Left to its loose provider matching, Azure OpenAI is priced at OpenAI's list and xAI is not found at all.
    assert.equal(calcPrice({ input_tokens: 1 }, 'gpt-4o', { providerId: 'azure.ai.openai' })?.provider.id, 'openai');
    assert.equal(calcPrice({ input_tokens: 1 }, 'grok-3', { providerId: 'x_ai' }), null);
  });

  it('prices Claude on Vertex AI through Google, which falls back to Anthropic for it', () => {
    const found = findCatalogueModel('gcp.vertex_ai', 'claude-3-5-haiku@20241022');
    assert.equal(found?.providerId, 'google');
    assert.match(found?.modelId ?? '', /^claude-3-5-haiku/);
  });

  it('takes a name that is exactly a catalogue provider id as that id, after trimming and lower-casing', () => {
    assert.equal(catalogueProviderFor('openrouter'), 'openrouter');
    assert.equal(catalogueProviderFor('together'), 'together');
    assert.equal(catalogueProviderFor(' OpenAI '), 'openai');
  });

  it('leaves other names to the lookup by model id, never to loose matching', () => {
    assert.equal(catalogueProviderFor(''), undefined);
    // The catalogue would take this for OpenAI because it contains "openai".
    assert.equal(catalogueProviderFor('my-openai-proxy'), undefined);
    for (const name of CONVENTION_NAMES_WITHOUT_CATALOGUE_PROVIDER) assert.equal(catalogueProviderFor(name), undefined);
  });
});

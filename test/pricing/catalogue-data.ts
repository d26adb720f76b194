import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findProvider, type Provider } from '@pydantic/genai-prices';

/**
 * Every provider in the bundled catalogue. The package exports no list, so the ids are read from its bundle (each
 * provider object opens with `id: "..."` at one fixed indent) and each is fetched through the public findProvider.
 */
export function bundledProviders(): Provider[] {
  const bundle = readFileSync(fileURLToPath(import.meta.resolve('@pydantic/genai-prices')), 'utf8');
  const ids = [...bundle.matchAll(/^ {4}id: "([^"]+)",$/gm)].map((match) => match[1]!);
  return ids.map((id) => findProvider({ providerId: id })).filter((provider) => provider !== undefined);
}

/**
 * OpenTelemetry instrumentation for the `openai` package, 4.x to 7.x, CommonJS and ESM builds alike: wraps
 * `create` on the prototypes of Chat Completions, Responses, Embeddings and legacy Completions, reached through the
 * package's main export (`OpenAI.Chat.Completions`, ...), which every version from 4 to 7 provides. Helpers
 * (`chat.completions.stream()`, runners, `responses.stream()`) call these methods, so they are counted once.
 */
import { InstrumentationBase, InstrumentationNodeModuleDefinition, type InstrumentationConfig } from '@opentelemetry/instrumentation';
import { openaiBodyUser } from '../request-tags.ts';
import { wrapCreate } from '../patch.ts';
import { describeOpenAI, type OpenAIEndpoint } from './describe.ts';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.ts';

export interface OpenAIInstrumentationConfig extends InstrumentationConfig {
  /**
   * Ask for usage on streamed chat and legacy completions whose app did not (`stream_options.include_usage`), and
   * hide the extra chunk from the app. Default true; without it such streams carry no token counts.
   */
  injectStreamUsage?: boolean;
}

type Prototype = Record<string, unknown>;

/** The resource prototypes to patch, found from the main export; missing ones (older versions) are skipped. */
export function openaiTargets(moduleExports: unknown): [OpenAIEndpoint, Prototype][] {
  const root = moduleExports as { OpenAI?: Record<string, any>; default?: Record<string, any> } | undefined;
  const OpenAI = root?.OpenAI ?? root?.default;
  if (!OpenAI) return [];
  const found: [OpenAIEndpoint, Prototype | undefined][] = [
    ['chat', OpenAI.Chat?.Completions?.prototype],
    ['responses', OpenAI.Responses?.prototype],
    ['embeddings', OpenAI.Embeddings?.prototype],
    ['completions', OpenAI.Completions?.prototype],
  ];
  return found.filter((entry): entry is [OpenAIEndpoint, Prototype] => typeof entry[1]?.create === 'function');
}

export class OpenAIInstrumentation extends InstrumentationBase<OpenAIInstrumentationConfig> {
  constructor(config: OpenAIInstrumentationConfig = {}) {
    super(`${PACKAGE_NAME}/openai`, PACKAGE_VERSION, config);
  }

  protected override init() {
    return new InstrumentationNodeModuleDefinition(
      'openai',
      ['>=4.0.0 <8'],
      (moduleExports: unknown) => this.patch(moduleExports),
      (moduleExports: unknown) => this.unpatch(moduleExports),
    );
  }

  /** Patches one loaded copy of the package (its CJS or its ESM build); returns the exports unchanged. */
  patch<T>(moduleExports: T): T {
    const options = { injectStreamUsage: this.getConfig().injectStreamUsage ?? true };
    for (const [endpoint, prototype] of openaiTargets(moduleExports)) {
      this._wrap(prototype, 'create', (original: any) => wrapCreate(original, {
        describe: (input) => describeOpenAI(endpoint, input, options),
        bodyUser: openaiBodyUser,
      }, () => this.tracer));
    }
    return moduleExports;
  }

  unpatch(moduleExports: unknown): void {
    for (const [, prototype] of openaiTargets(moduleExports)) this._unwrap(prototype, 'create');
  }
}

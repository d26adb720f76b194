/**
 * OpenTelemetry instrumentation for `@anthropic-ai/sdk` (CommonJS and ESM builds): wraps `Messages.prototype.create`
 * (and the beta Messages' one when present), reached from the main export. `messages.stream()` goes through
 * `create`, so it is counted once.
 *
 * The SDK (since 0.134) also emits a span of its own per call, with usage but no user. Ours is the counted one
 * (`llm_user_metrics.instrumented = true`); the SDK's span is made a child of ours and carries no user, which is
 * how the processor tells it apart (see docs/instrumentation.md).
 */
import { InstrumentationBase, InstrumentationNodeModuleDefinition, type InstrumentationConfig } from '@opentelemetry/instrumentation';
import { anthropicBodyUser } from '../request-tags.ts';
import { wrapCreate } from '../patch.ts';
import { describeAnthropicMessage } from './describe.ts';
import { PACKAGE_NAME, PACKAGE_VERSION } from '../version.ts';

type Prototype = Record<string, unknown>;

export function anthropicTargets(moduleExports: unknown): Prototype[] {
  const root = moduleExports as { Anthropic?: Record<string, any>; default?: Record<string, any> } | undefined;
  const Anthropic = root?.Anthropic ?? root?.default;
  if (!Anthropic) return [];
  const candidates: (Prototype | undefined)[] = [Anthropic.Messages?.prototype, Anthropic.Beta?.Messages?.prototype];
  return candidates.filter((p): p is Prototype => typeof p?.create === 'function');
}

export class AnthropicInstrumentation extends InstrumentationBase<InstrumentationConfig> {
  constructor(config: InstrumentationConfig = {}) {
    super(`${PACKAGE_NAME}/anthropic`, PACKAGE_VERSION, config);
  }

  protected override init() {
    return new InstrumentationNodeModuleDefinition(
      '@anthropic-ai/sdk',
      ['>=0.20.0 <2'],
      (moduleExports: unknown) => this.patch(moduleExports),
      (moduleExports: unknown) => this.unpatch(moduleExports),
    );
  }

  patch<T>(moduleExports: T): T {
    for (const prototype of anthropicTargets(moduleExports)) {
      this._wrap(prototype, 'create', (original: any) => wrapCreate(original, {
        describe: describeAnthropicMessage,
        bodyUser: anthropicBodyUser,
      }, () => this.tracer));
    }
    return moduleExports;
  }

  unpatch(moduleExports: unknown): void {
    for (const prototype of anthropicTargets(moduleExports)) this._unwrap(prototype, 'create');
  }
}

/**
 * The start-up entry: `node --require llm-user-metrics/instrumentation app.js` or
 * `node --import llm-user-metrics/instrumentation app.mjs`. One ESM module serves both (Node >= 22.12 can
 * `require()` ESM without top-level await), so CommonJS and ESM code share one module instance and one context.
 */
import { startInstrumentation } from './start.ts';

try {
  startInstrumentation();
} catch (error) {
  // Never take the app down: it runs uninstrumented, and says why once.
  process.stderr.write(`llm-user-metrics: instrumentation not started: ${error instanceof Error ? error.message : String(error)}\n`);
}

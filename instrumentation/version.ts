/** Our scope name and version on every span (the processor recognises our spans by `llm_user_metrics.instrumented`). */
export const PACKAGE_NAME = 'llm-user-metrics';
export const PACKAGE_VERSION = '0.1.0';

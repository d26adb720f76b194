// Our instrumentation (the packed package, started with --require llm-user-metrics/instrumentation) beside the
// Anthropic SDK's own span, which is on unless ANTHROPIC_OPEN_TELEMETRY=false. Copied into a temp app by the test.
const Anthropic = require('@anthropic-ai/sdk');
const { withUser } = require('llm-user-metrics');

const U = process.env.APP_USER;
const client = new Anthropic({ baseURL: process.env.PROVIDER_URL, apiKey: 'sk-ant-stand-in', maxRetries: 0 });
const params = { model: 'claude-sonnet-4-20250514', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };
const cached = { headers: { 'x-stand-in-usage': 'cached=300,cache_write=100' } };

async function main() {
  await client.messages.create({ ...params, metadata: { user_id: U } });
  await withUser(U, () => client.messages.create(params, cached));
  await withUser(U, async () => {
    const stream = await client.messages.create({ ...params, stream: true });
    for await (const _ of stream);
  });
  await withUser(U, () => client.messages.create({ ...params, model: 'refuse-429' }).catch(() => {}));
}
main().catch((error) => { console.error(error); process.exitCode = 1; });

/**
 * A Nest app (Express) in its own process, for load from another process:
 *
 *   fork('bench/support/route-server.mjs', ['with-sesame' | 'with-sesame-all-routes' | 'without-sesame', brokerUrl, apiKey])
 *
 * with-sesame: SesameModule + GET /plain (ungated) + GET /gated/:id (@RequireApproval).
 * with-sesame-all-routes: the same with `requestContext: 'all-routes'` (every request in a scope).
 * without-sesame: GET /plain only, no SesameModule at all. Announces `{ ready: { url } }`; `stop` closes it.
 */
import { ExpressAdapter } from '@nestjs/platform-express';
import { NestFactory } from '@nestjs/core';
import { createRoutesModule } from './gated-nest-app.mjs';

const [variant, brokerUrl, apiKey] = process.argv.slice(2);
const withSesame = variant.startsWith('with-sesame');
const requestContext = variant === 'with-sesame-all-routes' ? 'all-routes' : undefined;
const AppModule = createRoutesModule({ withSesame, requestContext, broker: { url: brokerUrl, apiKey } });
const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false });
await app.listen(0, '127.0.0.1');
const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');

process.on('message', async ({ id, cmd }) => {
  if (cmd !== 'stop') return process.send({ id, ok: false, error: `unknown command ${cmd}` });
  await app.close();
  process.send({ id, ok: true });
  process.disconnect();
});
process.send({ ready: { url } });

/**
 * A Nest app (Express) serving GraphQL or a WebSocket gateway in its own process, for load from another process:
 *
 *   fork('bench/support/transport-server.mjs', ['graphql' | 'ws', 'with-sesame' | 'without-sesame', brokerUrl, apiKey])
 *
 * graphql: Apollo at POST /graphql, schema `type Query { plain: String } type Mutation { gated(id: Int!): String }`.
 * ws: a gateway on the app's HTTP server (WsAdapter, path /), messages `plain` and `gated`.
 * with-sesame: SesameModule, and `gated` carries @RequireApproval; without-sesame: no SesameModule, `gated`
 * is a plain handler (transport-apps.mjs). Announces `{ ready: { url } }`; `cpu` answers the process's
 * CPU time so far (`{ cpuMs }`, user + system), to tell whether the app or the load generator was the
 * bottleneck; `stop` closes it.
 */
import { ExpressAdapter } from '@nestjs/platform-express';
import { WsAdapter } from '@nestjs/platform-ws';
import { NestFactory } from '@nestjs/core';
import { createGraphQLModule, createWsModule } from './transport-apps.mjs';

const [transport, variant, brokerUrl, apiKey] = process.argv.slice(2);
const createModule = { graphql: createGraphQLModule, ws: createWsModule }[transport];
if (!createModule) throw new Error(`unknown transport ${transport}`);
if (variant !== 'with-sesame' && variant !== 'without-sesame') throw new Error(`unknown variant ${variant}`);
const AppModule = createModule({ withSesame: variant === 'with-sesame', broker: { url: brokerUrl, apiKey } });
const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false });
if (transport === 'ws') app.useWebSocketAdapter(new WsAdapter(app));
await app.listen(0, '127.0.0.1');
const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');

process.on('message', async ({ id, cmd }) => {
  if (cmd === 'cpu') {
    const { user, system } = process.cpuUsage();
    return process.send({ id, ok: true, cpuMs: (user + system) / 1000 });
  }
  if (cmd !== 'stop') return process.send({ id, ok: false, error: `unknown command ${cmd}` });
  await app.close();
  process.send({ id, ok: true });
  process.disconnect();
});
process.send({ ready: { url } });

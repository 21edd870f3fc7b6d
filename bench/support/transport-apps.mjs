import { Module } from '@nestjs/common';
import { ApolloDriver } from '@nestjs/apollo';
import { Args, GraphQLModule, Mutation, Query, Resolver } from '@nestjs/graphql';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { RequireApproval, SesameModule } from '../../dist/esm/index.js';
import { decorateClass, decorateMethod, decorateParam } from './nest-decorate.mjs';

/**
 * The apps of ungated-transports.bench.mjs, built from the package in dist/ with decorators applied by
 * hand. Both variants of a transport have the same schema (or gateway) and the same handlers:
 * with SesameModule, the `gated` handler carries @RequireApproval; without, there is no SesameModule
 * and `gated` is a plain handler. The measured handler, `plain`, is ungated in both.
 */

/** Schema first: the same SDL in both variants. */
export const GRAPHQL_TYPE_DEFS = 'type Query { plain: String } type Mutation { gated(id: Int!): String held: String }';

/** GraphQL on Apollo (Express): `{ plain }` answers at once; `mutation { gated(id) }` asks the broker first (with SesameModule). */
export function createGraphQLModule({ withSesame, broker }) {
  class PlainResolver {
    plain() {
      return 'ok';
    }

    gated(id) {
      return `gated ${id}`;
    }

    held() {
      return heldAnswer(withSesame);
    }
  }
  decorateMethod(PlainResolver, 'plain', [Query('plain')]);
  decorateParam(PlainResolver, 'gated', 0, Args('id'));
  decorateMethod(PlainResolver, 'gated', [Mutation('gated'), ...(withSesame ? [RequireApproval('bench.graphql', { summary: 'Benchmark mutation' })] : [])], {
    paramTypes: [Number],
  });
  decorateMethod(PlainResolver, 'held', [Mutation('held'), ...(withSesame ? [RequireApproval('bench.held', HELD_OPTIONS)] : [])]);
  decorateClass(PlainResolver, [Resolver()]);
  return appModule({
    withSesame,
    broker,
    imports: [GraphQLModule.forRoot({ driver: ApolloDriver, typeDefs: GRAPHQL_TYPE_DEFS })],
    providers: [PlainResolver],
  });
}

/** A gateway on the app's HTTP server (WsAdapter): `plain` answers at once; `gated` asks the broker first (with SesameModule). */
export function createWsModule({ withSesame, broker }) {
  class PlainGateway {
    plain() {
      return { event: 'plain', data: 'ok' };
    }

    gated(data) {
      return { event: 'gated', data: { ok: true, id: data?.id } };
    }

    async held() {
      return { event: 'held', data: await heldAnswer(withSesame) };
    }
  }
  decorateMethod(PlainGateway, 'plain', [SubscribeMessage('plain')]);
  decorateParam(PlainGateway, 'gated', 0, MessageBody());
  decorateMethod(PlainGateway, 'gated', [SubscribeMessage('gated'), ...(withSesame ? [RequireApproval('bench.ws', { summary: 'Benchmark message' })] : [])], {
    paramTypes: [Object],
  });
  decorateMethod(PlainGateway, 'held', [SubscribeMessage('held'), ...(withSesame ? [RequireApproval('bench.held', HELD_OPTIONS)] : [])]);
  decorateClass(PlainGateway, [WebSocketGateway()]);
  return appModule({ withSesame, broker, imports: [], providers: [PlainGateway] });
}

/** `held`: with SesameModule it waits for a human who never decides (the broker leaves `bench.held` pending); without, on a timer. */
const HELD_OPTIONS = { summary: 'Benchmark call that waits', timeout: 600_000 };

function heldAnswer(withSesame) {
  return withSesame ? 'held' : new Promise((resolve) => setTimeout(() => resolve('held'), 600_000).unref());
}

function appModule({ withSesame, broker, imports, providers }) {
  class TransportModule {}
  const sesame = withSesame ? [SesameModule.forRoot({ apiKey: broker.apiKey, baseUrl: broker.url, env: {} })] : [];
  decorateClass(TransportModule, [Module({ imports: [...sesame, ...imports], providers })]);
  return TransportModule;
}

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
export const GRAPHQL_TYPE_DEFS = 'type Query { plain: String } type Mutation { gated(id: Int!): String }';

/** GraphQL on Apollo (Express): `{ plain }` answers at once; `mutation { gated(id) }` asks the broker first (with SesameModule). */
export function createGraphQLModule({ withSesame, broker }) {
  class PlainResolver {
    plain() {
      return 'ok';
    }

    gated(id) {
      return `gated ${id}`;
    }
  }
  decorateMethod(PlainResolver, 'plain', [Query('plain')]);
  decorateParam(PlainResolver, 'gated', 0, Args('id'));
  decorateMethod(PlainResolver, 'gated', [Mutation('gated'), ...(withSesame ? [RequireApproval('bench.graphql', { summary: 'Benchmark mutation' })] : [])], {
    paramTypes: [Number],
  });
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
  }
  decorateMethod(PlainGateway, 'plain', [SubscribeMessage('plain')]);
  decorateParam(PlainGateway, 'gated', 0, MessageBody());
  decorateMethod(PlainGateway, 'gated', [SubscribeMessage('gated'), ...(withSesame ? [RequireApproval('bench.ws', { summary: 'Benchmark message' })] : [])], {
    paramTypes: [Object],
  });
  decorateClass(PlainGateway, [WebSocketGateway()]);
  return appModule({ withSesame, broker, imports: [], providers: [PlainGateway] });
}

function appModule({ withSesame, broker, imports, providers }) {
  class TransportModule {}
  const sesame = withSesame ? [SesameModule.forRoot({ apiKey: broker.apiKey, baseUrl: broker.url, env: {} })] : [];
  decorateClass(TransportModule, [Module({ imports: [...sesame, ...imports], providers })]);
  return TransportModule;
}

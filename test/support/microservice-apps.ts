import type { AddressInfo, Server as NetServer } from 'node:net';
import type { INestMicroservice, ModuleMetadata } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { CapturingLogger } from './nest-apps.js';

export type MicroserviceTransport = 'tcp' | 'redis';

export interface StartedMicroserviceApp {
  app: INestMicroservice;
  client: ClientProxy;
  logger: CapturingLogger;
  /** A fresh client to the same server (the caller closes it). */
  newClient(): ClientProxy;
}

/**
 * A real microservice of `metadata` (TCP on a free loopback port, or Redis pub/sub on `redisPort`),
 * logging into a CapturingLogger from compile on, and a connected ClientProxy to it.
 */
export async function startMicroserviceApp(transport: MicroserviceTransport, metadata: ModuleMetadata, redisPort?: number): Promise<StartedMicroserviceApp> {
  const logger = new CapturingLogger();
  const moduleRef = await Test.createTestingModule(metadata).setLogger(logger).compile();
  const app =
    transport === 'tcp'
      ? moduleRef.createNestMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port: 0 }, logger })
      : moduleRef.createNestMicroservice({ transport: Transport.REDIS, options: { host: '127.0.0.1', port: redisPort! }, logger });
  await app.listen();
  const clientOptions =
    transport === 'tcp'
      ? ({ transport: Transport.TCP, options: { host: '127.0.0.1', port: (app.unwrap<NetServer>().address() as AddressInfo).port } } as const)
      : ({ transport: Transport.REDIS, options: { host: '127.0.0.1', port: redisPort! } } as const);
  const newClient = () => ClientProxyFactory.create(clientOptions);
  const client = newClient();
  await client.connect();
  return { app, client, logger, newClient };
}

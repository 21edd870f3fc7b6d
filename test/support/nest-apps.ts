import type { INestApplication, LoggerService, ModuleMetadata } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';

export type AdapterName = 'express' | 'fastify';
export const ADAPTERS: AdapterName[] = ['express', 'fastify'];

/** Keeps every log line so tests can assert on them (and on the absence of secrets). */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  private push(level: string, message: unknown, rest: unknown[]) {
    this.lines.push([level, message, ...rest].map((p) => (p instanceof Error ? `${p.message} ${p.stack}` : String(p))).join(' '));
  }
  log(message: unknown, ...rest: unknown[]) {
    this.push('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.push('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.push('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.push('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.push('verbose', message, rest);
  }
}

export interface StartedApp {
  app: INestApplication;
  logger: CapturingLogger;
  /** Base URL of the listening app, e.g. http://127.0.0.1:PORT */
  url: string;
}

/** Boots a real Nest app on the given adapter, listening on a free loopback port. */
export async function startApp(
  adapter: AdapterName,
  metadata: ModuleMetadata,
  configure?: (app: INestApplication) => void,
  options: { rawBody?: boolean } = {},
): Promise<StartedApp> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  const logger = new CapturingLogger();
  const app =
    adapter === 'express'
      ? moduleRef.createNestApplication(new ExpressAdapter(), { rawBody: options.rawBody ?? true, logger })
      : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { rawBody: options.rawBody ?? true, logger });
  configure?.(app);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  return { app, logger, url };
}

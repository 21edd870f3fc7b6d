import type { INestApplication, INestApplicationContext, LoggerService, ModuleMetadata } from '@nestjs/common';
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

export interface AppOptions {
  /** Nest's rawBody option; true unless told. */
  rawBody?: boolean;
  /**
   * Where Nest logs, from compile on: a fresh CapturingLogger unless told, one of your own (to share
   * it between apps), or false for no logging at all (the returned logger then stays empty).
   */
  logger?: CapturingLogger | false;
  /** true unless told: listen on a free loopback port. false: init() only (and Fastify made ready), url is ''. */
  listen?: boolean;
}

export interface CreatedApp {
  app: INestApplication;
  logger: CapturingLogger;
}

export interface StartedApp extends CreatedApp {
  /** Base URL of the listening app, e.g. http://127.0.0.1:PORT ('' when not listening) */
  url: string;
}

/** Compiles the module, logging from compile on as `options.logger` says. */
function compile(metadata: ModuleMetadata, logger: CapturingLogger | false) {
  const builder = Test.createTestingModule(metadata);
  return (logger === false ? builder : builder.setLogger(logger)).compile();
}

/** Compiles the module and creates the app on the given adapter, without init(): for suites that assert on boot itself. */
export async function createApp(adapter: AdapterName, metadata: ModuleMetadata, options: Omit<AppOptions, 'listen'> = {}): Promise<CreatedApp> {
  const logger = options.logger || new CapturingLogger();
  const moduleRef = await compile(metadata, options.logger === false ? false : logger);
  const appOptions = { rawBody: options.rawBody ?? true, logger: options.logger === false ? (false as const) : logger };
  const app =
    adapter === 'express'
      ? moduleRef.createNestApplication(new ExpressAdapter(), appOptions)
      : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), appOptions);
  return { app, logger };
}

/** Boots a real Nest app on the given adapter, listening on a free loopback port unless `options.listen` is false. */
export async function startApp(adapter: AdapterName, metadata: ModuleMetadata, configure?: (app: INestApplication) => void, options: AppOptions = {}): Promise<StartedApp> {
  const { app, logger } = await createApp(adapter, metadata, options);
  configure?.(app);
  if (options.listen === false) {
    await app.init();
    if (adapter === 'fastify') await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
    return { app, logger, url: '' };
  }
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  return { app, logger, url };
}

/** An initialised application context: the module's providers and lifecycle hooks, no HTTP. */
export async function startContext(metadata: ModuleMetadata, options: Pick<AppOptions, 'logger'> = {}): Promise<INestApplicationContext> {
  const logger = options.logger ?? new CapturingLogger();
  const moduleRef = await compile(metadata, logger);
  moduleRef.useLogger(logger);
  return moduleRef.init();
}

/**
 * Compiles a module that must fail to: returns what compiling threw, and throws if it compiled (after
 * closing the module). `logger` sees what compiling logs; Nest's testing logger does unless told.
 */
export function compileError(metadata: ModuleMetadata, { logger }: { logger?: CapturingLogger } = {}): Promise<unknown> {
  return compile(metadata, logger ?? false)
    .then((moduleRef) => moduleRef.close())
    .then(
      () => {
        throw new Error('expected compiling the module to fail');
      },
      (error: unknown) => error,
    );
}

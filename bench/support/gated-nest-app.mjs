import { Controller, Get, Injectable, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { performance } from 'node:perf_hooks';
import { RequireApproval, SesameModule } from '../../dist/esm/index.js';
import { decorateClass, decorateMethod, decorateParam } from './nest-decorate.mjs';

/** Where gated bodies report that they started; one per app (no module-level state). */
export class ResumeLog {
  constructor() {
    this.listeners = new Map();
  }

  started(callId) {
    const at = performance.now();
    const listener = this.listeners.get(callId);
    if (listener) {
      this.listeners.delete(callId);
      listener(at);
    }
  }

  /** Resolves with the time `callId`'s body starts. */
  whenStarted(callId) {
    return new Promise((resolve) => this.listeners.set(callId, resolve));
  }
}

/** A provider whose method is gated; the approval's summary names the call id, so a benchmark can find it. */
export class GatedService {
  constructor(log) {
    this.log = log;
  }

  async resume(callId) {
    this.log.started(callId);
    return callId;
  }
}
decorateMethod(GatedService, 'resume', [RequireApproval('bench.resume', { summary: (callId) => `Benchmark call ${callId}`, dedupKey: (callId) => callId })], {
  paramTypes: [String],
});
decorateClass(GatedService, [Injectable()], { paramTypes: [ResumeLog] });

/** Builds an application context (no HTTP server) with SesameModule and the gated service. */
export async function createGatedContext(broker, clientOptions = {}) {
  class BenchModule {}
  decorateClass(BenchModule, [
    Module({
      imports: [SesameModule.forRoot({ apiKey: broker.apiKey, baseUrl: broker.url, env: {}, ...clientOptions })],
      providers: [{ provide: ResumeLog, useValue: new ResumeLog() }, GatedService],
    }),
  ]);
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: false });
  return { app, gated: app.get(GatedService), log: app.get(ResumeLog) };
}

/** GET /plain answers at once; GET /gated/:id asks the broker first (when the app has SesameModule). */
export function createRoutesModule({ broker, withSesame, requestContext }) {
  class PlainController {
    plain() {
      return { ok: true };
    }
  }
  decorateMethod(PlainController, 'plain', [Get('plain')]);
  decorateClass(PlainController, [Controller()]);

  if (!withSesame) {
    class PlainModule {}
    decorateClass(PlainModule, [Module({ controllers: [PlainController] })]);
    return PlainModule;
  }

  class GatedController {
    gated(id) {
      return { ok: true, id };
    }
  }
  decorateParam(GatedController, 'gated', 0, Param('id'));
  decorateMethod(GatedController, 'gated', [Get('gated/:id'), RequireApproval('bench.route', { summary: 'Benchmark route' })], {
    paramTypes: [String],
  });
  decorateClass(GatedController, [Controller()]);

  class SesameRoutesModule {}
  decorateClass(SesameRoutesModule, [
    Module({
      imports: [SesameModule.forRoot({ apiKey: broker.apiKey, baseUrl: broker.url, env: {}, ...(requestContext && { requestContext }) })],
      controllers: [PlainController, GatedController],
    }),
  ]);
  return SesameRoutesModule;
}

import { SesameConfigError } from '../../errors.js';

/** What the gate uses of BullMQ: the errors its worker treats specially, and Job to find a job by id. */
export interface BullmqModule {
  DelayedError: new (message?: string) => Error;
  UnrecoverableError: new (message?: string) => Error;
  Job: { fromId(queue: unknown, jobId: string): Promise<unknown> };
}

/**
 * Loads bullmq only when an app has a `mode: 'deferred'` gate: it is an optional peer, so apps without
 * deferred jobs never need it installed.
 */
export async function loadBullmq(): Promise<BullmqModule> {
  let loaded: Partial<BullmqModule> & { default?: Partial<BullmqModule> };
  try {
    loaded = (await import('bullmq')) as typeof loaded;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new SesameConfigError("@RequireApproval({ mode: 'deferred' }) needs the bullmq and @nestjs/bullmq packages: npm install bullmq @nestjs/bullmq");
    }
    throw error;
  }
  const module = loaded.DelayedError ? loaded : (loaded.default ?? loaded);
  const { DelayedError, UnrecoverableError, Job } = module;
  if (typeof DelayedError !== 'function' || typeof UnrecoverableError !== 'function' || typeof Job?.fromId !== 'function') {
    throw new SesameConfigError('The installed bullmq package does not export DelayedError, UnrecoverableError and Job (need bullmq 5 or 6)');
  }
  return { DelayedError, UnrecoverableError, Job };
}

import { Controller, Get, Injectable, Param, UseGuards, type CanActivate, type ExecutionContext, type INestApplication, type ModuleMetadata } from '@nestjs/common';
import { ApprovalDenied, RequireApproval, SesameConfigError, SesameModule, SkipApproval } from '../../lib/index.js';
import { isGatedMethod } from '../../lib/approval-gate/gated-method.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, createApp, type AdapterName, type StartedApp } from '../support/nest-apps.js';
import { startGatedApp } from '../support/gated-app.js';
import { Ledger } from '../support/ledger.js';

/**
 * Holes in the class-level @RequireApproval: inherited methods, symbol-keyed methods and ungated
 * overrides must never run without approval. Each either is gated or the app refuses to boot.
 */

const API_KEY = 'sk_test_SECRET_class_holes_7e21';

/** Counts what actually ran: the invariant under test is "nothing runs without approval". */
/** Rejects requests carrying `x-block`: an inherited route must keep its method-level guard. */
@Injectable()
class BlockGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return !context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['x-block'];
  }
}

// The base is shared by a decorated and an undecorated subclass: gating one must not touch the other.
@Injectable()
class BaseReportsController {
  constructor(protected readonly ledger: Ledger) {}

  @Get('reports/:id')
  @UseGuards(BlockGuard)
  report(@Param('id') id: string) {
    this.ledger.ran.push(`${this.constructor.name}.report:${id}`);
    return { id };
  }

  @Get('status')
  @SkipApproval()
  status() {
    this.ledger.ran.push(`${this.constructor.name}.status`);
    return { ok: true };
  }
}

@Controller('gated')
@RequireApproval('reports.read')
class GatedReportsController extends BaseReportsController {}

@Controller('plain')
class PlainReportsController extends BaseReportsController {}

const PURGE = Symbol('purge');
const REINDEX = Symbol('reindex');

class RootJobs {
  readonly ran: string[] = [];
  rootRun(name: string) {
    this.ran.push(`root:${name}`);
    return `root ${name}`;
  }
}

class BaseJobs extends RootJobs {
  baseRun(name: string) {
    this.ran.push(`base:${name}`);
    return `base ${name}`;
  }
}

/** Class-gated provider: inherited methods (two levels up) and its symbol-keyed method are gated. */
@Injectable()
@RequireApproval('jobs.run')
class JobsService extends BaseJobs {
  [PURGE]() {
    this.ran.push('purge');
    return 'purged';
  }
}

/** Only a symbol-keyed method-level gate: the explorer must still find it and bind the gate. */
@Injectable()
class IndexService {
  readonly ran: string[] = [];
  @RequireApproval('index.rebuild')
  [REINDEX]() {
    this.ran.push('reindex');
    return 'reindexed';
  }
}

type Decision = 'approve' | 'deny';

/** Builds the app without listening, so a boot failure can be asserted and the app still closed. */
async function initApp(adapter: AdapterName, broker: LocalBroker, metadata: ModuleMetadata, use: (app: INestApplication) => Promise<void> = async () => {}): Promise<unknown> {
  const { app } = await createApp(
    adapter,
    { ...metadata, imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, env: {} }), ...(metadata.imports ?? [])] },
    { logger: false, rawBody: false },
  );
  try {
    await app.init();
    await use(app);
    return undefined;
  } catch (error: unknown) {
    return error;
  } finally {
    await app.close();
  }
}

describe.each(ADAPTERS)('class-level @RequireApproval holes (%s)', (adapter) => {
  let decision: Decision;
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;

  beforeEach(async () => {
    decision = 'deny';
    ({ broker, started } = await startGatedApp(adapter, {
      apiKey: API_KEY,
      broker: { decide: () => decision },
      controllers: [GatedReportsController, PlainReportsController],
      providers: [Ledger, BlockGuard, JobsService, IndexService],
    }));
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await started?.app.close();
    await broker?.stop();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${started.url}${path}`, { headers });

  describe('an inherited route handler of a class-decorated controller', () => {
    it('denied: 403 approval_denied, and the handler did not run', async () => {
      const res = await get('/gated/reports/7');
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ code: 'approval_denied', status: 'denied', approvalId: broker.list()[0].id });
      expect(ledger.ran).toEqual([]);
      expect(broker.list()).toMatchObject([{ action: 'reports.read', summary: 'Approve reports.read (GatedReportsController.report)' }]);
    });

    it('approved: runs once, with its route parameter', async () => {
      decision = 'approve';
      const res = await get('/gated/reports/7');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ id: '7' });
      expect(ledger.ran).toEqual(['GatedReportsController.report:7']);
      expect(broker.list()).toHaveLength(1);
    });

    it('keeps its method-level guard: a rejected request triggers no approval', async () => {
      decision = 'approve';
      const res = await get('/gated/reports/7', { 'x-block': '1' });
      expect(res.status).toBe(403);
      expect(await res.json()).not.toHaveProperty('approvalId');
      expect(broker.list()).toEqual([]);
      expect(ledger.ran).toEqual([]);
    });

    it('@SkipApproval on the base method is respected', async () => {
      const res = await get('/gated/status');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
      expect(ledger.ran).toEqual(['GatedReportsController.status']);
      expect(broker.list()).toEqual([]);
    });
  });

  it('an undecorated sibling subclass of the same base is not gated: the base was not mutated', async () => {
    const res = await get('/plain/reports/9');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: '9' });
    expect(ledger.ran).toEqual(['PlainReportsController.report:9']);
    expect(broker.list()).toEqual([]);
    expect(isGatedMethod(BaseReportsController.prototype.report)).toBe(false);
    expect(Object.hasOwn(PlainReportsController.prototype, 'report')).toBe(false);
    expect(isGatedMethod(GatedReportsController.prototype.report)).toBe(true);
  });

  describe('a class-decorated provider', () => {
    it('denied: a symbol-keyed method rejects with ApprovalDenied and its body does not run', async () => {
      const jobs = started.app.get(JobsService);
      await expect(jobs[PURGE]()).rejects.toBeInstanceOf(ApprovalDenied);
      expect(jobs.ran).toEqual([]);
      expect(broker.list()).toMatchObject([{ action: 'jobs.run' }]);
    });

    it('denied: methods inherited from the parent and the grandparent reject and do not run', async () => {
      const jobs = started.app.get(JobsService);
      await expect(jobs.baseRun('a')).rejects.toBeInstanceOf(ApprovalDenied);
      await expect(jobs.rootRun('b')).rejects.toBeInstanceOf(ApprovalDenied);
      expect(jobs.ran).toEqual([]);
      expect(broker.list().map((a) => a.action)).toEqual(['jobs.run', 'jobs.run']);
    });

    it('approved: the symbol-keyed and inherited methods run once each', async () => {
      decision = 'approve';
      const jobs = started.app.get(JobsService);
      await expect(jobs[PURGE]()).resolves.toBe('purged');
      await expect(jobs.baseRun('a')).resolves.toBe('base a');
      await expect(jobs.rootRun('b')).resolves.toBe('root b');
      expect(jobs.ran).toEqual(['purge', 'base:a', 'root:b']);
      expect(broker.list()).toHaveLength(3);
      expect(isGatedMethod(BaseJobs.prototype.baseRun)).toBe(false);
    });
  });

  it('a symbol-keyed method-level @RequireApproval is found and bound: approved runs, denied does not', async () => {
    const index = started.app.get(IndexService);
    await expect(index[REINDEX]()).rejects.toBeInstanceOf(ApprovalDenied);
    decision = 'approve';
    await expect(index[REINDEX]()).resolves.toBe('reindexed');
    expect(index.ran).toEqual(['reindex']);
  });

  describe('an ungated override in a subclass of a gated class fails the boot, naming it', () => {
    it('override of a class-gated method, a new method and an override of a method-gated one: each named', async () => {
      @Injectable()
      @RequireApproval('vault.open')
      class Vault {
        readonly ran: string[] = [];
        open() {
          this.ran.push('open');
        }
      }
      @Injectable()
      class LeakyVault extends Vault {
        override open() {
          this.ran.push('leaky open');
        }
        extra() {
          this.ran.push('extra');
        }
      }
      @Injectable()
      class Payments {
        @RequireApproval('payments.pay')
        pay() {
          return 'paid';
        }
        ping() {
          return 'pong';
        }
      }
      @Injectable()
      class FastPayments extends Payments {
        override pay() {
          return 'paid fast';
        }
        override ping() {
          return 'pong fast'; // ping was never gated: overriding it is fine
        }
      }

      const error = await initApp(adapter, broker, { providers: [LeakyVault, FastPayments] });
      expect(error).toBeInstanceOf(SesameConfigError);
      const message = (error as Error).message;
      expect(message).toContain('LeakyVault.open()');
      expect(message).toContain('LeakyVault.extra()');
      expect(message).toContain('FastPayments.pay()');
      expect(message).not.toContain('ping');
      expect(broker.list()).toEqual([]);
    });

    it('an undecorated controller overriding a route of a class-gated controller', async () => {
      @Controller('secret')
      @RequireApproval('secret.read')
      class SecretController {
        @Get()
        read() {
          return 'secret';
        }
      }
      @Controller('leak')
      class LeakController extends SecretController {
        @Get()
        override read() {
          return 'leaked';
        }
      }

      const error = await initApp(adapter, broker, { controllers: [LeakController] });
      expect(error).toBeInstanceOf(SesameConfigError);
      expect((error as Error).message).toContain('LeakController.read()');
    });

    it('a symbol-keyed method added to a class-gated prototype after decoration is caught at boot', async () => {
      const LATE = Symbol('late');
      @Injectable()
      @RequireApproval('late.run')
      class Late {
        run() {
          return 'ran';
        }
      }
      Object.defineProperty(Late.prototype, LATE, { value: () => 'late', configurable: true, writable: true });

      const error = await initApp(adapter, broker, { providers: [Late] });
      expect(error).toBeInstanceOf(SesameConfigError);
      expect((error as Error).message).toContain('Late.[Symbol(late)]()');
    });

    it('boots when the subclass is decorated itself, or skips the override explicitly', async () => {
      @Injectable()
      @RequireApproval('vault.open')
      class Vault {
        open() {
          return 'open';
        }
      }
      @Injectable()
      @RequireApproval('vault.open-sub')
      class GatedSubVault extends Vault {
        override open() {
          return 'sub open';
        }
      }
      @Injectable()
      class SkippingVault extends Vault {
        @SkipApproval()
        override open() {
          return 'skipped';
        }
      }

      const use = async (app: INestApplication) => {
        await expect(app.get(GatedSubVault).open()).rejects.toBeInstanceOf(ApprovalDenied);
        expect(app.get(SkippingVault).open()).toBe('skipped');
      };
      await expect(initApp(adapter, broker, { providers: [GatedSubVault, SkippingVault] }, use)).resolves.toBeUndefined();
      expect(broker.list()).toMatchObject([{ action: 'vault.open-sub' }]);
    });
  });
});

describe('@RequireApproval where it cannot gate', () => {
  it('on a property (a function-valued field) throws at definition instead of leaving it ungated', () => {
    // TypeScript rejects this placement; plain JavaScript (or a cast) reaches the decorator with no descriptor.
    const decorate = RequireApproval('field.run') as unknown as (target: object, key: string | symbol) => void;
    expect(() => decorate(class {}.prototype, 'handler')).toThrow(SesameConfigError);
    expect(() => decorate(class {}.prototype, Symbol('handler'))).toThrow(/not properties \(\[Symbol\(handler\)\]\)/);
  });
});

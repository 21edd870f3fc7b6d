import { Body, Controller, Injectable, Post, type INestApplication } from '@nestjs/common';
import { ApprovalDenied, ApprovalGateNotBoundError, AsyncApprovalContextError, RequireApproval, SesameModule } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';
import { postJson } from '../support/http-requests.js';
import { Ledger } from '../support/ledger.js';

/**
 * Attacks on gated provider methods, all refused: an async-mode method called outside HTTP, gated
 * methods extracted, unbound, rebound to other objects or called on instances Nest never saw, and
 * the 202 of a gated service behind an ungated route presented to other calls. Real Nest apps
 * (Express and Fastify) and the real local broker.
 */
const API_KEY = 'sk_test_SECRET_attack_providers_0d7a';

@Injectable()
class Vault {
  constructor(readonly ledger: Ledger) {}

  @RequireApproval('vault.open', { mode: 'async', summary: (x: string) => `Open ${x}` })
  open(x: string) {
    this.ledger.ran.push(`open:${x}`);
    return { opened: x };
  }

  @RequireApproval('vault.wipe', { summary: (x: string) => `Wipe ${x}`, timeout: 3_000 })
  wipe(x: string) {
    this.ledger.ran.push(`wipe:${x}`);
    return { wiped: x };
  }
}

/** Another bound provider, whose gated method shows the same summary for the same argument. */
@Injectable()
class Archive {
  constructor(readonly ledger: Ledger) {}

  @RequireApproval('archive.open', { mode: 'async', summary: (x: string) => `Open ${x}` })
  open(x: string) {
    this.ledger.ran.push(`archive:${x}`);
    return { opened: x };
  }
}

@Controller()
class VaultController {
  constructor(
    private readonly vault: Vault,
    private readonly archive: Archive,
  ) {}

  @Post('open')
  open(@Body('x') x: string) {
    return this.vault.open(x);
  }

  @Post('archive-open')
  archiveOpen(@Body('x') x: string) {
    return this.archive.open(x);
  }

  /** One request, two gated calls: the header presented must not serve the second one. */
  @Post('open-twice')
  async openTwice(@Body('x') x: string) {
    await this.vault.open(x);
    return this.vault.open(`${x}!`);
  }
}

const metadata = (brokerUrl: string) => ({
  imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: brokerUrl, env: {}, requestContext: 'all-routes' })],
  controllers: [VaultController],
  providers: [Ledger, Vault, Archive],
});

describe('gated provider methods called the wrong way', () => {
  let broker: LocalBroker;
  let app: INestApplication;
  let vault: Vault;
  let archive: Archive;
  let ledger: Ledger;

  beforeEach(async () => {
    // Every approval is denied at once: nothing may ever run in this suite.
    broker = await LocalBroker.start({ apiKeys: [API_KEY], decide: () => 'deny' });
    ({ app } = await startApp('express', metadata(broker.url)));
    vault = app.get(Vault);
    archive = app.get(Archive);
    ledger = app.get(Ledger);
  });
  afterEach(async () => {
    await app.close();
    await broker.stop();
  });

  it('an async-mode method called outside an HTTP request (directly, from a timer, from a microtask) fails closed and asks nobody', async () => {
    await expect(vault.open('a')).rejects.toBeInstanceOf(AsyncApprovalContextError);
    await expect(new Promise((resolve, reject) => setTimeout(() => (vault.open('b') as unknown as Promise<unknown>).then(resolve, reject), 0))).rejects.toBeInstanceOf(
      AsyncApprovalContextError,
    );
    await expect(Promise.resolve().then(() => vault.open('c'))).rejects.toBeInstanceOf(AsyncApprovalContextError);
    expect(broker.list()).toEqual([]);
    expect(ledger.ran).toEqual([]);
  });

  it('extracted, unbound, or called on objects Nest never bound: rejected with ApprovalGateNotBoundError, nothing asked or run', async () => {
    const { wipe, open } = vault;
    const outsiders: [string, unknown][] = [
      ['undefined', undefined],
      ['null', null],
      ['a plain object', {}],
      ['an instance created outside Nest', new Vault(ledger)],
      ['a bare prototype-made instance', Object.create(Vault.prototype)],
      ['a function', () => undefined],
    ];
    for (const [, target] of outsiders) {
      await expect(Reflect.apply(wipe, target, ['x'])).rejects.toBeInstanceOf(ApprovalGateNotBoundError);
      await expect(Reflect.apply(open, target, ['x'])).rejects.toBeInstanceOf(ApprovalGateNotBoundError);
    }
    await expect(Promise.resolve().then(() => wipe('x'))).rejects.toBeInstanceOf(ApprovalGateNotBoundError);
    await expect(Promise.resolve().then(() => Vault.prototype.wipe.bind(undefined as unknown as Vault)('x'))).rejects.toBeInstanceOf(ApprovalGateNotBoundError);
    expect(broker.list()).toEqual([]);
    expect(ledger.ran).toEqual([]);
  });

  it('rebound onto another bound instance, or an object inheriting from one, the method still asks under its own action, and a denial runs nothing', async () => {
    for (const target of [archive, Object.create(vault) as Vault, Object.create(archive) as Archive]) {
      await expect(Reflect.apply(vault.wipe, target, ['x'])).rejects.toBeInstanceOf(ApprovalDenied);
    }
    expect(broker.list().map((a) => a.action)).toEqual(['vault.wipe', 'vault.wipe', 'vault.wipe']);
    expect(ledger.ran).toEqual([]);
  });

  it('a denied blocking call called again at once is asked again (no cached outcome) and still runs nothing', async () => {
    for (let i = 0; i < 3; i++) await expect(vault.wipe('x')).rejects.toBeInstanceOf(ApprovalDenied);
    expect(broker.list()).toHaveLength(3);
    expect(ledger.ran).toEqual([]);
  });
});

describe.each(ADAPTERS)('the 202 of a gated service behind an ungated route (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    started = await startApp(adapter, metadata(broker.url));
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) => postJson(`${started.url}${path}`, body, headers);

  it('its approval id only ever runs that service call, once: not another action with the same summary, not other arguments', async () => {
    const pending = await post('/open', { x: 'a' });
    expect(pending).toMatchObject({ status: 202, body: { code: 'approval_pending' } });
    const id = pending.body.approvalId as string;
    expect(broker.get(id)).toMatchObject({ action: 'vault.open', summary: 'Open a' });
    await broker.approve(id);

    const header = { 'sesame-approval-id': id };
    expect(await post('/archive-open', { x: 'a' }, header)).toMatchObject({ status: 403, body: { code: 'approval_action_mismatch' } });
    expect(await post('/open', { x: 'b' }, header)).toMatchObject({ status: 403, body: { code: 'approval_mismatch' } });
    expect(await post('/open', { x: ['a'] }, header)).toMatchObject({ status: 403, body: { code: 'approval_mismatch' } });
    expect(ledger.ran).toEqual([]);

    expect(await post('/open', { x: 'a' }, header)).toMatchObject({ status: 201, body: { opened: 'a' } });
    expect(await post('/open', { x: 'a' }, header)).toMatchObject({ status: 409, body: { code: 'approval_already_used' } });
    expect(ledger.ran).toEqual(['open:a']);
  });

  it('one request making two gated calls cannot stretch one approval id over both', async () => {
    const pending = await post('/open-twice', { x: 'a' });
    expect(pending.status).toBe(202);
    const id = pending.body.approvalId as string;
    await broker.approve(id);

    const repeat = await post('/open-twice', { x: 'a' }, { 'sesame-approval-id': id });
    expect(repeat).toMatchObject({ status: 403, body: { code: 'approval_mismatch' } });
    // The first call ran on its approval; the second, with other arguments, did not.
    expect(ledger.ran).toEqual(['open:a']);
    expect((await post('/open-twice', { x: 'a' }, { 'sesame-approval-id': id })).status).toBe(409);
    expect(ledger.ran).toEqual(['open:a']);
  });
});

import { Body, Controller, Post, UseGuards, ValidationPipe } from '@nestjs/common';
import { IsInt, IsString, Min } from 'class-validator';
import { ApprovalsService, RequireApproval, SesameModule, type ApprovalStoreOption } from '../../lib/index.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';
import { postJson } from '../support/http-requests.js';
import { RedisServer } from '../support/redis-server.js';
import { HeaderAuthGuard } from '../support/header-auth.guard.js';
import { Ledger } from '../support/ledger.js';

/**
 * Outsider attacks on async mode, all refused: presenting an approval id across users (anonymous
 * and authenticated), racing the owner, replaying used and expired ids, hostile header values, forged
 * lookalikes of the gate's dedup keys, and a repeated request that must each time get its own
 * approval. Real Nest apps (Express and Fastify), the real local broker, and a real Redis shared by
 * two replicas where single use must hold across processes.
 */
const API_KEY = 'sk_test_SECRET_attack_async_9e2b';

class WireDto {
  @IsInt() @Min(1) amount!: number;
  @IsString() to!: string;
}

@Controller()
@UseGuards(HeaderAuthGuard)
class MoneyController {
  constructor(private readonly ledger: Ledger) {}

  @Post('wires')
  @RequireApproval('payments.wire', { mode: 'async', summary: (dto: WireDto) => `Wire $${dto.amount} to ${dto.to}` })
  wire(@Body() dto: WireDto) {
    this.ledger.ran.push(`wire:${dto.amount}:${dto.to}`);
    return { wired: dto.amount };
  }

  @Post('quick-wires')
  @RequireApproval('payments.quick-wire', { mode: 'async', summary: (dto: WireDto) => `Wire $${dto.amount} to ${dto.to}`, expiresIn: 1_000 })
  quickWire(@Body() dto: WireDto) {
    this.ledger.ran.push(`quick-wire:${dto.amount}:${dto.to}`);
    return { wired: dto.amount };
  }

  @Post('refunds')
  @RequireApproval('payments.refund', { mode: 'async', summary: (dto: WireDto) => `Wire $${dto.amount} to ${dto.to}` })
  refund(@Body() dto: WireDto) {
    this.ledger.ran.push(`refund:${dto.amount}:${dto.to}`);
    return { refunded: dto.amount };
  }
}

function appMetadata(brokerUrl: string, store?: ApprovalStoreOption) {
  return {
    imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: brokerUrl, env: {}, ...(store && { store }) })],
    controllers: [MoneyController],
    providers: [Ledger, HeaderAuthGuard],
  };
}

const withPipes = (app: StartedApp['app']) => app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true }));

const post = (base: string, path: string, body: unknown, headers: Record<string, string> = {}) => postJson(`${base}${path}`, body, headers);

const WIRE = { amount: 50_000, to: 'supplier-iban' };

describe.each(ADAPTERS)('async-mode replay attacks (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;

  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    started = await startApp(adapter, appMetadata(broker.url), withPipes);
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const as = (user: string | undefined, id?: string): Record<string, string> => ({
    ...(user !== undefined && { 'x-user': user }),
    ...(id !== undefined && { 'sesame-approval-id': id }),
  });

  /** Waits until the broker's expires_at of an (approved) approval has passed. */
  const waitUntilLapsed = async (id: string) => {
    const lapse = Date.parse(broker.get(id)!.expires_at!) - Date.now() + 50;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lapse)));
  };

  /** Asks as `user` and approves the resulting approval: its id. */
  const approvedFor = async (user: string | undefined, body: unknown = WIRE, path = '/wires') => {
    const first = await post(started.url, path, body, as(user));
    expect(first.status).toBe(202);
    const id = first.body.approvalId as string;
    await broker.approve(id);
    return id;
  };

  it("an anonymous approval is not usable by an authenticated user, nor an authenticated user's anonymously or by another user", async () => {
    const anonymous = await approvedFor(undefined);
    const alices = await approvedFor('alice');
    expect(alices).not.toBe(anonymous);

    for (const [user, id] of [
      ['alice', anonymous],
      ['', anonymous], // an empty id is a requester too, not "nobody"
      [undefined, alices],
      ['bob', alices],
      ['Alice', alices],
    ] as const) {
      expect(await post(started.url, '/wires', WIRE, as(user, id))).toMatchObject({ status: 403, body: { code: 'approval_mismatch', approvalId: id } });
    }
    // Without the header, an authenticated user never lands on the anonymous approval (and the reverse).
    const bobsOwn = await post(started.url, '/wires', WIRE, as('bob'));
    expect(bobsOwn.status).toBe(202);
    expect([anonymous, alices]).not.toContain(bobsOwn.body.approvalId);
    expect(ledger.ran).toEqual([]);

    // Each owner still runs theirs, once.
    expect((await post(started.url, '/wires', WIRE, as(undefined, anonymous))).status).toBe(201);
    expect((await post(started.url, '/wires', WIRE, as('alice', alices))).status).toBe(201);
    expect(ledger.ran).toHaveLength(2);
  });

  it("another user racing the owner with the owner's approval id: only the owner runs, exactly once", async () => {
    const id = await approvedFor('alice');
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        post(started.url, '/wires', WIRE, as(i % 2 === 0 ? 'alice' : 'mallory', id)).then((a) => ({ ...a, who: i % 2 === 0 ? 'alice' : 'mallory' })),
      ),
    );
    const mallory = answers.filter((a) => a.who === 'mallory');
    expect(mallory.every((a) => a.status === 403 && a.body.code === 'approval_mismatch')).toBe(true);
    const alice = answers.filter((a) => a.who === 'alice');
    expect(alice.filter((a) => a.status === 201)).toHaveLength(1);
    expect(alice.filter((a) => a.status !== 201).every((a) => a.status === 409)).toBe(true);
    expect(ledger.ran).toEqual(['wire:50000:supplier-iban']);
  });

  it('40 concurrent repeats of an approved request, half with the header and half without: one run; the rest 409 or a new 202', async () => {
    const id = await approvedFor('alice');
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => post(started.url, '/wires', WIRE, as('alice', i % 2 === 0 ? id : undefined))));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    for (const answer of answers.filter((a) => a.status !== 201)) {
      expect([409, 202]).toContain(answer.status);
      // A 202 is a new approval that a human must grant: never the one that just ran.
      if (answer.status === 202) expect(answer.body.approvalId).not.toBe(id);
    }
    expect(ledger.ran).toHaveLength(1);
  });

  it('a used approval presented again, with other arguments, for another action, and after it lapsed: refused every time', async () => {
    const id = await approvedFor('alice', WIRE, '/quick-wires');
    expect((await post(started.url, '/quick-wires', WIRE, as('alice', id))).status).toBe(201);

    expect(await post(started.url, '/quick-wires', WIRE, as('alice', id))).toMatchObject({ status: 409, body: { code: 'approval_already_used' } });
    expect(await post(started.url, '/quick-wires', { ...WIRE, amount: 50_001 }, as('alice', id))).toMatchObject({ status: 403, body: { code: 'approval_mismatch' } });
    // Same summary, same arguments, another action.
    expect(await post(started.url, '/wires', WIRE, as('alice', id))).toMatchObject({ status: 403, body: { code: 'approval_action_mismatch' } });
    await waitUntilLapsed(id);
    expect(await post(started.url, '/quick-wires', WIRE, as('alice', id))).toMatchObject({ status: 403, body: { code: 'approval_expired' } });
    expect(ledger.ran).toEqual(['quick-wire:50000:supplier-iban']);
  });

  it('an approved approval that lapses before it is used never runs, with or without the header', async () => {
    const id = await approvedFor('alice', WIRE, '/quick-wires');
    await waitUntilLapsed(id);
    expect(await post(started.url, '/quick-wires', WIRE, as('alice', id))).toMatchObject({ status: 403, body: { code: 'approval_expired' } });
    const again = await post(started.url, '/quick-wires', WIRE, as('alice'));
    expect(again.status).toBe(202);
    expect(again.body.approvalId).not.toBe(id);
    expect(ledger.ran).toEqual([]);
  });

  it('the same request repeated: every run needs a fresh human approval, and a spent id never serves the next run', async () => {
    const used: string[] = [];
    for (let run = 1; run <= 6; run++) {
      const asked = await post(started.url, '/wires', WIRE, as('alice'));
      expect(asked.status).toBe(202);
      const id = asked.body.approvalId as string;
      expect(used).not.toContain(id);
      // Not approved yet: neither the new id nor any spent one runs it.
      expect((await post(started.url, '/wires', WIRE, as('alice', id))).status).toBe(202);
      for (const spent of used) expect((await post(started.url, '/wires', WIRE, as('alice', spent))).status).toBe(409);
      expect(ledger.ran).toHaveLength(run - 1);

      await broker.approve(id);
      expect((await post(started.url, '/wires', WIRE, as('alice', id))).status).toBe(201);
      used.push(id);
    }
    expect(ledger.ran).toHaveLength(6);
    expect(broker.list().filter((a) => a.action === 'payments.wire')).toHaveLength(6);
  });

  it('hostile Sesame-Approval-Id values (path tricks, query, encodings, case, suffixes) never run anything', async () => {
    const id = await approvedFor('alice');
    const hostile = [
      '.',
      '..',
      '../approvals',
      `../${id}`,
      `${id}/../${id}`,
      `${id}/`,
      `${id}?status=approved`,
      `${id}#x`,
      `${id}%00`,
      encodeURIComponent(`${id}/`),
      '%2e%2e',
      id.toUpperCase() === id ? id.toLowerCase() : id.toUpperCase(),
      `${id}x`,
      id.slice(0, -1),
      `${id};${id}`,
      `${id}\t${id}`,
      `${id},${id}`,
      'x'.repeat(201),
      '*',
      'approval:*',
    ];
    for (const value of hostile) {
      const answer = await post(started.url, '/wires', WIRE, as('alice', value));
      expect([400, 403, 502]).toContain(answer.status);
    }
    expect(ledger.ran).toEqual([]);
    // The real approval is untouched by all that and runs once.
    expect((await post(started.url, '/wires', WIRE, as('alice', id))).status).toBe(201);
    expect(ledger.ran).toHaveLength(1);
  });

  it("lookalikes of the gate's dedup key, created through ApprovalsService with the very content the human saw, never pass for it", async () => {
    const first = await post(started.url, '/wires', WIRE, as('alice'));
    const real = broker.get(first.body.approvalId as string)!;
    expect(real.dedup_key).toMatch(/^sesame:v2:/);
    await broker.expire(real.id);
    const digest = real.dedup_key!.slice('sesame:v2:'.length);

    const approvals = started.app.get(ApprovalsService);
    const lookalikes = [
      `SESAME:v2:${digest}`,
      `Sesame:v2:${digest}`,
      ` sesame:v2:${digest}`,
      `\u0455esame:v2:${digest}`, // Cyrillic dze
      `sesame\u200b:v2:${digest}`,
      `sesame\uff1av2:${digest}`, // fullwidth colon
      `xsesame:v2:${digest}`,
    ];
    for (const reserved of [`sesame:v2:${digest}`, `sesame:V2:${digest}`, `sesame:v2:${digest}:x`]) {
      await expect(approvals.trigger({ action: real.action, summary: real.summary, dedupKey: reserved })).rejects.toThrow(/reserved for the approval gate/);
    }
    for (const dedupKey of lookalikes) {
      const forged = await approvals.trigger({ action: real.action, summary: real.summary, dedupKey });
      await broker.approve(forged.id);
      expect(await post(started.url, '/wires', WIRE, as('alice', forged.id))).toMatchObject({ status: 403, body: { code: 'approval_mismatch' } });
    }
    // Without the header the gate finds none of them: it asks for a new approval.
    const fresh = await post(started.url, '/wires', WIRE, as('alice'));
    expect(fresh.status).toBe(202);
    expect(broker.get(fresh.body.approvalId as string)!.dedup_key).toBe(real.dedup_key);
    expect(ledger.ran).toEqual([]);
  });
});

describe('async-mode replay attacks across two replicas sharing Redis', () => {
  let redis: RedisServer;
  let broker: LocalBroker;
  let a: StartedApp;
  let b: StartedApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    broker = await LocalBroker.start({ apiKeys: [API_KEY] });
    const store: ApprovalStoreOption = { type: 'redis', url: redis.url, keyPrefix: `attack-${Date.now()}:` };
    a = await startApp('express', appMetadata(broker.url, store), withPipes);
    b = await startApp('fastify', appMetadata(broker.url, store), withPipes);
  });
  afterEach(async () => {
    await a.app.close();
    await b.app.close();
    await broker.stop();
  });

  const ran = () => [...a.app.get(Ledger).ran, ...b.app.get(Ledger).ran];

  it('the owner and an intruder racing one approval id over both replicas: one run, by the owner', async () => {
    const first = await post(a.url, '/wires', WIRE, { 'x-user': 'alice' });
    const id = first.body.approvalId as string;
    await broker.approve(id);
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const who = i % 3 === 0 ? 'mallory' : 'alice';
        return post(i % 2 === 0 ? a.url : b.url, '/wires', WIRE, { 'x-user': who, 'sesame-approval-id': id }).then((answer) => ({ ...answer, who }));
      }),
    );
    expect(answers.filter((x) => x.who === 'mallory').every((x) => x.status === 403)).toBe(true);
    expect(answers.filter((x) => x.status === 201)).toHaveLength(1);
    expect(answers.filter((x) => x.who === 'alice' && x.status !== 201).every((x) => x.status === 409)).toBe(true);
    expect(ran()).toEqual(['wire:50000:supplier-iban']);
  });

  it('ids shaped like Redis patterns or other store keys neither run anything nor disturb the real approval', async () => {
    const first = await post(b.url, '/wires', WIRE, { 'x-user': 'alice' });
    const id = first.body.approvalId as string;
    await broker.approve(id);
    for (const value of ['*', `approval:${id}`, `${id}*`, `webhook:${id}`, `${id}:x`, '?', '[a-z]*', `approval:*`]) {
      for (const url of [a.url, b.url]) {
        expect([400, 403]).toContain((await post(url, '/wires', WIRE, { 'x-user': 'alice', 'sesame-approval-id': value })).status);
      }
    }
    expect((await post(a.url, '/wires', WIRE, { 'x-user': 'alice', 'sesame-approval-id': id })).status).toBe(201);
    expect((await post(b.url, '/wires', WIRE, { 'x-user': 'alice', 'sesame-approval-id': id })).status).toBe(409);
    expect(ran()).toHaveLength(1);
  });
});

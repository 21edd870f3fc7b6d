import { createHash } from 'node:crypto';
import { Body, Controller, Post, ValidationPipe } from '@nestjs/common';
import { IsInt, IsString, Min } from 'class-validator';
import { ApprovalsService, RequestRejectedError, RequireApproval, SesameModule } from '../../lib/index.js';
import { canonicalJson } from '../../lib/approval-gate/canonical-json.js';
import { LocalBroker } from '../../lib/testing/index.js';
import { ADAPTERS, startApp, type StartedApp } from '../support/nest-apps.js';
import { startGatedApp } from '../support/gated-app.js';
import { postJson } from '../support/http-requests.js';
import { Ledger } from '../support/ledger.js';

/**
 * Item 1 of the trust issue: async mode's binding was a plain sha256 anyone could compute, so an
 * approval created elsewhere under that key ("change nickname") ran a wire of $50,000.
 */
const API_KEY = 'sk_test_SECRET_forged_5b21';

class WireDto {
  @IsInt() @Min(1) amount!: number;
  @IsString() to!: string;
}

class NicknameDto {
  @IsString() nickname!: string;
  @IsString() idempotencyKey!: string;
}

@Controller()
class MoneyController {
  constructor(private readonly ledger: Ledger) {}

  @Post('wires')
  @RequireApproval('payments.wire', { mode: 'async', summary: (dto: WireDto) => `Wire $${dto.amount} to ${dto.to}` })
  wire(@Body() dto: WireDto) {
    this.ledger.ran.push(`wire:${dto.amount}:${dto.to}`);
    return { wired: dto.amount };
  }

  // A caller chooses the dedup key here, as an idempotency key.
  @Post('nickname')
  @RequireApproval('profile.nickname', { summary: (dto: NicknameDto) => `Change nickname to ${dto.nickname}`, dedupKey: (dto: NicknameDto) => dto.idempotencyKey })
  nickname(@Body() dto: NicknameDto) {
    this.ledger.ran.push(`nickname:${dto.nickname}`);
    return { nickname: dto.nickname };
  }
}

/** The key the old gate derived for a wire: computable by anyone who knows the arguments. */
function guessableKey(prefix: string, action: string, args: unknown[]): string {
  const canonical = JSON.stringify(['sesame-approval-binding', 1, action, canonicalJson(args, 'args'), null]);
  return `${prefix}${createHash('sha256').update(canonical).digest('base64url')}`;
}

describe.each(ADAPTERS)('forged bindings (%s)', (adapter) => {
  let broker: LocalBroker;
  let started: StartedApp;
  let ledger: Ledger;
  const wire = { amount: 50_000, to: 'attacker-iban' };
  // What the route's handler receives after the ValidationPipe: a WireDto with these fields.
  const wireArgs = [Object.assign(new WireDto(), wire)];

  beforeEach(async () => {
    ({ broker, started } = await startGatedApp(adapter, {
      apiKey: API_KEY,
      broker: { decide: (a) => (a.summary.startsWith('Change nickname') ? 'approve' : undefined) },
      controllers: [MoneyController],
      providers: [Ledger],
      validation: { transform: true, whitelist: true },
    }));
    ledger = started.app.get(Ledger);
  });
  afterEach(async () => {
    await started.app.close();
    await broker.stop();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) => postJson(`${started.url}${path}`, body, headers);

  /** Another app on the same broker account: raw protocol calls with the account's key, no client checks. */
  const createOnBroker = async (body: Record<string, unknown>) => {
    const res = await fetch(`${broker.url}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await res.json()) as { id: string; dedup_key: string };
  };

  it.each(['sesame:v1:', 'sesame:v2:'])('an approval created under the guessable key %s<sha256> never runs the wire', async (prefix) => {
    const key = guessableKey(prefix, 'payments.wire', wireArgs);
    for (const action of ['profile.nickname', 'payments.wire']) {
      // The broker's policy approves it at once: a human would, reading "Change nickname".
      const forged = await createOnBroker({ action, summary: 'Change nickname to Bob', dedup_key: `${key}${action === 'payments.wire' ? ':x' : ''}` });
      expect(broker.get(forged.id)!.status).toBe('approved');

      const noHeader = await post('/wires', wire);
      expect(noHeader.status).toBe(202);
      expect(noHeader.body.approvalId).not.toBe(forged.id);
      const withHeader = await post('/wires', wire, { 'sesame-approval-id': forged.id });
      expect(withHeader.status).toBe(403);
      expect(withHeader.body.code).toBe(action === 'payments.wire' ? 'approval_mismatch' : 'approval_action_mismatch');
    }
    expect(ledger.ran).toEqual([]);
  });

  it('a caller-chosen dedup key in the reserved namespace is refused, through the route and through ApprovalsService', async () => {
    const key = guessableKey('sesame:v1:', 'payments.wire', wireArgs);
    const viaRoute = await post('/nickname', { nickname: 'Bob', idempotencyKey: key });
    expect(viaRoute.status).toBe(500);
    expect(started.logger.lines.join('\n')).toContain('reserved for the approval gate');
    const approvals = started.app.get(ApprovalsService);
    const error = await approvals.trigger({ action: 'payments.wire', summary: 'Change nickname', dedupKey: 'sesame:v2:anything' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestRejectedError);
    expect((error as Error).message).toContain('reserved for the approval gate');
    expect(broker.list()).toEqual([]);

    // The route's own idempotency keys work, and cannot reach the gate's keys: the wire still asks for its own approval.
    expect((await post('/nickname', { nickname: 'Bob', idempotencyKey: 'idem-1' })).status).toBe(201);
    expect((await post('/wires', wire)).status).toBe(202);
    expect(ledger.ran).toEqual(['nickname:Bob']);
  });

  it('a copy of the real key onto a new approval with a harmless summary is refused: the content must be what the human saw', async () => {
    const first = await post('/wires', wire);
    expect(first.status).toBe(202);
    const real = broker.get(first.body.approvalId as string)!;
    // The real one lapses; whoever can read the broker's records copies its key onto a harmless-looking approval.
    await broker.expire(real.id);
    const forged = await createOnBroker({ action: 'payments.wire', summary: 'Change nickname to Bob', dedup_key: real.dedup_key });
    expect(broker.get(forged.id)!.status).toBe('approved');

    const noHeader = await post('/wires', wire);
    expect(noHeader).toMatchObject({ status: 403, body: { code: 'approval_mismatch', approvalId: forged.id } });
    const withHeader = await post('/wires', wire, { 'sesame-approval-id': forged.id });
    expect(withHeader).toMatchObject({ status: 403, body: { code: 'approval_mismatch' } });
    expect(ledger.ran).toEqual([]);
  });

  it('apps with one binding secret accept each other’s approvals; apps with another do not', async () => {
    const other = await startApp(
      adapter,
      {
        imports: [SesameModule.forRoot({ apiKey: API_KEY, baseUrl: broker.url, bindingSecret: 'another-secret-of-at-least-32-chars!', env: {} })],
        controllers: [MoneyController],
        providers: [Ledger],
      },
      (app) => app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true })),
    );
    try {
      const asked = await post('/wires', wire);
      await broker.approve(asked.body.approvalId as string);
      const res = await fetch(`${other.url}/wires`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'sesame-approval-id': asked.body.approvalId as string },
        body: JSON.stringify(wire),
      });
      expect(res.status).toBe(403);
      expect(other.app.get(Ledger).ran).toEqual([]);
      // The app that asked runs it, once.
      expect((await post('/wires', wire, { 'sesame-approval-id': asked.body.approvalId as string })).status).toBe(201);
      expect(ledger.ran).toEqual(['wire:50000:attacker-iban']);
    } finally {
      await other.app.close();
    }
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RedisServer } from '../support/redis-server.js';
import { buildSampleApp, ROOT, type BuiltSampleApp } from './sample-app.builder.js';
import { answer, payoutJobIn, send } from './sample-app.client.js';
import { SampleAppProcess } from './sample-app.process.js';
import { startSample, type StartedSample } from './sample-app.start.js';

/**
 * The sample's payouts as deferred BullMQ jobs, against the sample running as a process (as `npm run
 * sample` starts it): with a redis-server on PATH it starts one for itself; SESAME_SAMPLE_REDIS_URL
 * names another; with neither, the webhook flow stays and the banner says how to get the deferred one.
 * The sample's log is the run counter: PayoutsProcessor logs each payout it sends.
 */
const PAYOUT = { amount: 150_000, currency: 'EUR', destination: 'DE89370400440532013000' };
const SUMMARY = 'Pay out €1,500.00 to DE89370400440532013000';
const NO_REDIS_HINT = '  Payouts:    webhook flow, no Redis. For deferred BullMQ payout jobs, set SESAME_SAMPLE_REDIS_URL=redis://host:port or put redis-server on PATH\n';
const RECORD_PACKAGES = fileURLToPath(new URL('./loaded-packages-on-exit.mjs', import.meta.url));
/** A PATH with no redis-server on it (the sample runs as `node <main>` by its full path, and needs nothing else from PATH). */
const NO_REDIS_PATH = join(ROOT, 'no-such-dir-on-path');

let built: BuiltSampleApp | undefined;
let scratch: string;
beforeAll(async () => {
  built = await buildSampleApp();
  scratch = mkdtempSync(join(ROOT, '.tmp', 'sample-deferred-'));
}, 120_000);
afterAll(() => {
  built?.remove();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Starts the sample recording the packages it loads; `packages()` reads them once it has exited. */
async function startRecorded(env: Record<string, string>, name: string): Promise<StartedSample & { packages(): string[] }> {
  const file = join(scratch, `${name}.json`);
  const started = await startSample(built!.main, { NODE_OPTIONS: `--import ${RECORD_PACKAGES}`, LOADED_PACKAGES_FILE: file, ...env });
  return { ...started, packages: () => JSON.parse(readFileSync(file, 'utf8')) as string[] };
}

function occurrences(text: string, line: string): number {
  return text.split(line).length - 1;
}

/** Whether anything accepts a TCP connection on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stop(sample: SampleAppProcess): Promise<void> {
  sample.signal('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([sample.exited, new Promise((resolve) => (timer = setTimeout(resolve, 15_000, 'still running after 15 s')))]);
  clearTimeout(timer);
  expect(exit).toEqual({ code: 0, signal: null });
  expect(sample.stdout).toContain('Stopped.');
}

describe('the sample app with redis-server on PATH: payouts are deferred BullMQ jobs', () => {
  let started: Awaited<ReturnType<typeof startRecorded>> | undefined;
  let redisPort: number;
  const api = () => started!.api;

  beforeAll(async () => {
    started = await startRecorded({}, 'deferred');
    redisPort = Number((await started.sample.waitForOutput(/Redis redis:\/\/127\.0\.0\.1:(\d+) \(started by the sample\)/, 1000))[1]);
  }, 60_000);
  afterAll(() => started?.sample.kill());

  it('says in its banner and GET / that payouts are deferred jobs on the redis-server it started', async () => {
    expect(started!.sample.stdout).toContain(
      `  Payouts:    deferred BullMQ jobs on Redis redis://127.0.0.1:${redisPort} (started by the sample): POST /payouts answers 202 with the job id, the job runs once approved\n`,
    );
    expect(started!.sample.stdout).toContain('Ctrl+C stops the app, the broker and redis-server.\n');
    expect(await listening(redisPort)).toBe(true);
    const index = await answer(send('GET', `${api()}/`));
    expect(index.body).toMatchObject({
      payouts: 'deferred',
      routes: { 'POST /payouts': expect.stringContaining('BullMQ job'), 'GET /payouts/:jobId': "a payout job: its state and its approval's id" },
    });
  });

  it('POST /payouts answers 202 with the job id; the job waits delayed for its approval and runs once when approved on the broker', async () => {
    const created = await answer(send('POST', `${api()}/payouts`, PAYOUT));
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ jobId: expect.stringMatching(/^\d+$/), state: 'waiting', approvalId: null, ...PAYOUT, result: null });
    const { jobId } = created.body as { jobId: string };

    const approval = await started!.broker.waitForPending(SUMMARY);
    expect(approval).toMatchObject({
      action: 'payouts.send',
      reason: 'Merchant payout requested through the API',
      context: { jobId, ...PAYOUT },
      // deferred.callbackUrl: the decision comes back to the sample's webhook endpoint and wakes the job.
      callback_url: `${api()}/sesame/webhook`,
    });
    const waiting = await payoutJobIn(api(), jobId, 'delayed');
    expect(waiting).toMatchObject({ approvalId: approval.id, result: null, finishedAt: null });
    expect(occurrences(started!.sample.stdout, `Payout job ${jobId} sent`)).toBe(0);

    await started!.broker.decide(approval.id, 'approve');
    const done = await payoutJobIn(api(), jobId, 'completed');
    expect(done).toMatchObject({
      approvalId: approval.id,
      attemptsMade: 1,
      failedReason: null,
      result: { transferId: expect.stringMatching(/^tr_/), sentAt: expect.any(String) },
    });
    await started!.sample.waitForOutput(new RegExp(`Payout job ${jobId} sent €1,500\\.00 to DE89370400440532013000 \\(transfer ${done.result.transferId}\\)`), 5000);
    // The webhook woke the job (HTTP 204 from the sample's endpoint); nothing more runs after it.
    await started!.sample.waitForOutput(new RegExp(`webhook \\S+ for ${approval.id} delivered \\(HTTP 204, attempt 1\\)`), 5000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(occurrences(started!.sample.stdout, `Payout job ${jobId} sent`)).toBe(1);
    expect((await started!.broker.approvals()).filter((a) => a.action === 'payouts.send' && (a.context as { jobId?: string }).jobId === jobId)).toHaveLength(1);
  });

  it('a payout denied on the broker fails its job, naming the denial, and is never sent', async () => {
    const created = await answer(send('POST', `${api()}/payouts`, { amount: 500, currency: 'USD', destination: 'GB29NWBK60161331926819' }));
    expect(created.status).toBe(202);
    const { jobId } = created.body as { jobId: string };
    const approval = await started!.broker.waitForPending('Pay out $5.00 to GB29NWBK60161331926819');
    await payoutJobIn(api(), jobId, 'delayed');

    await started!.broker.decide(approval.id, 'deny');
    const failed = await payoutJobIn(api(), jobId, 'failed');
    expect(failed).toMatchObject({ approvalId: approval.id, attemptsMade: 1, result: null, finishedAt: expect.any(String) });
    expect(failed.failedReason).toContain(`approval_denied, approval ${approval.id}, status denied`);
    await started!.sample.waitForOutput(new RegExp(`WARN \\[Payouts\\] Payout job ${jobId} not sent: .*approval_denied`), 5000);
    expect(occurrences(started!.sample.stdout, `Payout job ${jobId} sent`)).toBe(0);
  });

  it('GET /payouts lists the jobs newest first; an unknown job id is 404; an invalid payout is 400 and queues nothing', async () => {
    const before = ((await answer(send('GET', `${api()}/payouts`))).body as { jobId: string }[]).length;
    const invalid = await answer(send('POST', `${api()}/payouts`, { amount: 0, currency: 'EUR', destination: 'nowhere' }));
    expect(invalid.status).toBe(400);
    const list = (await answer(send('GET', `${api()}/payouts`))).body as { jobId: string; state: string }[];
    expect(list).toHaveLength(before);
    expect(list.map((j) => j.state)).toEqual(['failed', 'completed']);
    expect(await answer(send('GET', `${api()}/payouts/999999`))).toMatchObject({ status: 404, body: { message: 'Payout job 999999 not found' } });
  });

  // Last: it stops the sample.
  it('on SIGTERM it stops the app, the broker and the redis-server it started, and exits 0; bullmq was loaded', async () => {
    await stop(started!.sample);
    expect(started!.sample.stdout).toContain('SIGTERM received: stopping the app, the broker and redis-server');
    expect(started!.sample.stderr).toBe('');
    expect(await listening(redisPort)).toBe(false);
    expect(started!.packages()).toEqual(expect.arrayContaining(['@nestjs/bullmq', 'bullmq', 'ioredis']));
  });
});

describe('the sample app with SESAME_SAMPLE_REDIS_URL', () => {
  const PASSWORD = 'pw-SECRET-sample-7f3c';
  let redis: RedisServer | undefined;
  const samples: SampleAppProcess[] = [];
  beforeAll(async () => {
    redis = await RedisServer.start({ requirePass: PASSWORD });
  });
  afterAll(async () => {
    await Promise.all(samples.map((s) => s.kill()));
    await redis?.stop();
  });

  it('runs its payout jobs on that Redis, never shows its password, and leaves it running when it stops', async () => {
    // No redis-server on PATH: the Redis it uses can only be the one named.
    const { sample, api, broker } = await startSample(built!.main, { SESAME_SAMPLE_REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${redis!.port}`, PATH: NO_REDIS_PATH });
    samples.push(sample);
    expect(sample.stdout).toContain(`  Payouts:    deferred BullMQ jobs on Redis redis://127.0.0.1:${redis!.port} (SESAME_SAMPLE_REDIS_URL): `);
    expect(sample.stdout).toContain('Ctrl+C stops the app and the broker.\n');

    const created = await answer(send('POST', `${api}/payouts`, PAYOUT));
    expect(created.status).toBe(202);
    const approval = await broker.waitForPending(SUMMARY);
    await broker.decide(approval.id, 'approve');
    await payoutJobIn(api, created.body.jobId, 'completed');

    const client = new Redis({ port: redis!.port, password: PASSWORD, lazyConnect: true });
    try {
      await client.connect();
      // The queue (its own prefix) and the approval store's single-use marks are in this Redis.
      expect(await client.hget(`sesame-sample:payouts:${created.body.jobId}`, 'finishedOn')).toEqual(expect.any(String));
      expect((await client.keys('sesame-sample:*')).some((key) => !key.startsWith('sesame-sample:payouts:'))).toBe(true);
    } finally {
      client.disconnect();
    }

    await stop(sample);
    expect(sample.stdout).toContain('SIGTERM received: stopping the app and the broker\n');
    expect(await listening(redis!.port)).toBe(true);
    expect(sample.stdout + sample.stderr).not.toContain(PASSWORD);
  });

  it('exits 1 when that Redis does not answer, saying so without its password', async () => {
    const closed = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const sample = SampleAppProcess.start(built!.main, { PORT: '0', BROKER_PORT: '0', SESAME_SAMPLE_REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${closed}` });
    samples.push(sample);
    expect(await sample.exited).toEqual({ code: 1, signal: null });
    expect(sample.stderr).toContain(
      `SESAME_SAMPLE_REDIS_URL: Redis at redis://127.0.0.1:${closed} does not answer (connect ECONNREFUSED 127.0.0.1:${closed}). Start it, or unset SESAME_SAMPLE_REDIS_URL`,
    );
    expect(sample.stdout).not.toContain('API:');
    expect(sample.stdout + sample.stderr).not.toContain(PASSWORD);
  });

  it.each([
    ['http://127.0.0.1:6379', 'SESAME_SAMPLE_REDIS_URL must start with redis:// or rediss:// (lowercase)'],
    [`REDISS://:${PASSWORD}@127.0.0.1:6379`, 'SESAME_SAMPLE_REDIS_URL must start with redis:// or rediss:// (lowercase)'],
    [`redis://:${PASSWORD}@`, 'SESAME_SAMPLE_REDIS_URL must be a URL such as redis://127.0.0.1:6379 (or rediss:// for TLS)'],
    ['redis://', 'SESAME_SAMPLE_REDIS_URL must name a host, e.g. redis://127.0.0.1:6379'],
  ])('exits 1 when it is %p, naming the problem, not the URL', async (url, message) => {
    const sample = SampleAppProcess.start(built!.main, { PORT: '0', BROKER_PORT: '0', SESAME_SAMPLE_REDIS_URL: url });
    samples.push(sample);
    expect(await sample.exited).toEqual({ code: 1, signal: null });
    expect(sample.stderr).toContain(message);
    expect(sample.stdout + sample.stderr).not.toContain(PASSWORD);
  });
});

describe('the sample app without Redis: the webhook payout flow', () => {
  let started: Awaited<ReturnType<typeof startRecorded>> | undefined;
  beforeAll(async () => {
    started = await startRecorded({ PATH: NO_REDIS_PATH }, 'webhook');
  }, 60_000);
  afterAll(() => started?.sample.kill());

  it('starts, and its banner says how to enable deferred payouts', async () => {
    expect(started!.sample.stdout).toContain(NO_REDIS_HINT);
    expect(started!.sample.stdout).toContain('Ctrl+C stops the app and the broker.\n');
    expect((await answer(send('GET', `${started!.api}/`))).body).toMatchObject({ payouts: 'webhook', routes: { 'GET /payouts/:id': 'a payout and its status' } });
  });

  it('a payout answers 202 at once and is released when the signed decision webhook arrives', async () => {
    const { api, broker, sample } = started!;
    const created = await answer(send('POST', `${api}/payouts`, PAYOUT));
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^po_/), status: 'awaiting_approval', approvalId: expect.stringMatching(/^apr_/) });
    const approval = await broker.waitForPending(SUMMARY);
    expect(approval).toMatchObject({ id: created.body.approvalId, action: 'payouts.release', dedup_key: created.body.id });

    await broker.decide(approval.id, 'approve');
    await sample.waitForOutput(new RegExp(`Payout ${created.body.id} released \\(approval ${approval.id} approved\\)`), 10_000);
    expect((await answer(send('GET', `${api}/payouts/${created.body.id}`))).body).toMatchObject({ status: 'released', decidedAt: expect.any(String) });
  });

  // Last: it stops the sample.
  it('stops on SIGTERM with exit code 0, never having loaded bullmq or @nestjs/bullmq', async () => {
    await stop(started!.sample);
    expect(started!.sample.stderr).toBe('');
    const packages = started!.packages();
    expect(packages).toEqual(expect.arrayContaining(['@nestjs/core', 'nestjs-sesame']));
    expect(packages).not.toContain('bullmq');
    expect(packages).not.toContain('@nestjs/bullmq');
    expect(packages).not.toContain('ioredis');
  });
});

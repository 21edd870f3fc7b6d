import { mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { buildSampleApp, ROOT, type BuiltSampleApp } from './sample-app.builder.js';
import { answer, payoutJobIn, send } from './sample-app.client.js';
import { SampleAppProcess } from './sample-app.process.js';

/**
 * What a newcomer does after `npm run sample`: the sample app runs with its embedded broker, a gated
 * request waits, and a human decides on the dashboard in a real browser (Debian's Chromium, headless).
 */
const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
};
const SCREENSHOT = join(ROOT, 'test-output', 'dashboard.png');
const UI_TIMEOUT = 10_000;

let built: BuiltSampleApp | undefined;
beforeAll(async () => {
  built = await buildSampleApp();
}, 120_000);
afterAll(() => built?.remove());

describe('the sample app with its dashboard, driven in Chromium', () => {
  let sample: SampleAppProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let api: string;
  let brokerUrl: string;
  const pageProblems: string[] = [];

  const approveButton = (summary: RegExp): Locator => page.getByRole('button', { name: new RegExp(`^Approve ${summary.source}`) });
  const denyButton = (summary: RegExp): Locator => page.getByRole('button', { name: new RegExp(`^Deny ${summary.source}`) });
  const historyRow = (text: string, status: string): Locator => page.locator('#history-body tr', { hasText: text }).locator(`.status-${status}`);

  beforeAll(async () => {
    sample = SampleAppProcess.start(built!.main, { PORT: '0', BROKER_PORT: '0' });
    api = (await sample.waitForOutput(/API:\s+(http:\/\/\S+)/, 30_000))[1];
    brokerUrl = (await sample.waitForOutput(/Broker:\s+(http:\/\/\S+)/, 1000))[1];
    const dashboard = (await sample.waitForOutput(/Dashboard:\s+(http:\/\/\S+)/, 1000))[1];
    expect(sample.stdout).toContain(`curl -i -X POST ${api}/refunds -H 'content-type: application/json' -d '{"paymentId":"pay_1002"`);

    browser = await chromium.launch(CHROMIUM);
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.on('pageerror', (error) => pageProblems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') pageProblems.push(`console error: ${message.text()}`);
    });
    await page.goto(dashboard);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: UI_TIMEOUT });
  }, 60_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await sample?.kill();
  });

  // Every refund here is over the sample policy's auto-approve threshold (50.00), so a human decides it.
  it('a gated refund waits until Approve is clicked, then completes with 201', async () => {
    const refund = send('POST', `${api}/refunds`, { paymentId: 'pay_1002', amount: 7500, currency: 'EUR', reason: 'Parcel arrived damaged' });
    const approve = approveButton(/Refund €75\.00 on payment pay_1002 \(payments\.refund, apr_\w+\)$/);
    await approve.waitFor({ timeout: UI_TIMEOUT });

    const card = page.locator('li.card', { has: approve });
    await expect(card.textContent()).resolves.toEqual(expect.stringContaining('Parcel arrived damaged'));
    const context = JSON.parse((await card.locator('pre.context').textContent())!);
    expect(context).toEqual({ paymentId: 'pay_1002', amount: 7500, currency: 'EUR' });
    // A blocking gate keeps its approval open one second past its 5-minute timeout.
    await expect(card.locator('[data-field="time-left"]').textContent()).resolves.toMatch(/^(4 min \d+|5 min [01]) s$/);
    await expect(card.textContent()).resolves.toContain('local'); // the requester label of the embedded broker's key
    expect(await Promise.race([refund, 'still waiting'])).toBe('still waiting');

    await approve.click();
    const done = await answer(refund);
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({ paymentId: 'pay_1002', amount: 7500, currency: 'EUR', status: 'succeeded' });
    await historyRow('Refund €75.00 on payment pay_1002', 'approved').waitFor({ timeout: UI_TIMEOUT });
    await approve.waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('the same refund denied on the dashboard answers 403 and does not run', async () => {
    const refund = send('POST', `${api}/refunds`, { paymentId: 'pay_1003', amount: 20_000, currency: 'GBP', reason: 'Goodwill' });
    const deny = denyButton(/Refund £200\.00 on payment pay_1003 /);
    await deny.waitFor({ timeout: UI_TIMEOUT });
    await deny.click();

    const done = await answer(refund);
    expect(done.status).toBe(403);
    expect(done.body).toMatchObject({ statusCode: 403, code: 'approval_denied', approvalId: expect.stringMatching(/^apr_/) });
    await historyRow('Refund £200.00 on payment pay_1003', 'denied').waitFor({ timeout: UI_TIMEOUT });
    // Only the approved refund reached the ledger.
    expect((await answer(send('GET', `${api}/payments/pay_1002`))).body).toMatchObject({ amount: 12_000, refunded: 7500 });
    expect((await answer(send('GET', `${api}/payments/pay_1003`))).body).toMatchObject({ amount: 250_000, refunded: 0 });
  });

  it('a gated service method (bulk delete) is approved from the keyboard alone', async () => {
    const bulk = send('POST', `${api}/admin/customers/bulk-delete`, { ids: ['cus_alan', 'cus_edsger'] });
    const approve = approveButton(/Delete 2 customers: cus_alan, cus_edsger /);
    await approve.waitFor({ timeout: UI_TIMEOUT });

    await page.locator('#pending-heading').focus();
    let presses = 0;
    while (!(await approve.evaluate((button) => button === document.activeElement))) {
      expect(++presses).toBeLessThanOrEqual(10);
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');

    const done = await answer(bulk);
    expect(done).toEqual({ status: 200, body: { deleted: ['cus_alan', 'cus_edsger'], notFound: [] } });
    const left = (await answer(send('GET', `${api}/admin/customers`))).body as { id: string }[];
    expect(left.map((c) => c.id)).toEqual(['cus_ada', 'cus_grace', 'cus_barbara']);
  });

  // redis-server is on PATH here, so the sample runs payouts as deferred BullMQ jobs (the webhook flow without Redis:
  // sample-app-deferred-payouts.e2e-spec.ts).
  it('a payout job answers 202 at once and runs once Approve is clicked, woken by the signed decision webhook', async () => {
    expect(sample!.stdout).toMatch(/Payouts: {4}deferred BullMQ jobs on Redis redis:\/\/127\.0\.0\.1:\d+ \(started by the sample\)/);
    const created = await answer(send('POST', `${api}/payouts`, { amount: 150_000, currency: 'EUR', destination: 'DE89370400440532013000' }));
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ jobId: expect.stringMatching(/^\d+$/), state: 'waiting' });
    const { jobId } = created.body as { jobId: string };

    const approve = approveButton(/Pay out €1,500\.00 to DE89370400440532013000 \(payouts\.send, apr_\w+\)$/);
    await approve.waitFor({ timeout: UI_TIMEOUT });
    const card = page.locator('li.card', { has: approve });
    expect(JSON.parse((await card.locator('pre.context').textContent())!)).toEqual({ jobId, amount: 150_000, currency: 'EUR', destination: 'DE89370400440532013000' });
    const approvalId = await card.getAttribute('data-approval-id');
    await approve.click();

    await sample!.waitForOutput(new RegExp(`Payout job ${jobId} sent €1,500\\.00 to DE89370400440532013000 \\(transfer tr_\\w+\\)`), UI_TIMEOUT);
    expect(await payoutJobIn(api, jobId, 'completed')).toMatchObject({ approvalId, result: { transferId: expect.stringMatching(/^tr_/) } });
    await sample!.waitForOutput(new RegExp(`webhook \\S+ for ${approvalId} delivered \\(HTTP 204, attempt 1\\)`), UI_TIMEOUT);
    await historyRow('Pay out €1,500.00 to DE89370400440532013000', 'approved').waitFor({ timeout: UI_TIMEOUT });
  });

  it('updates live when an approval is decided elsewhere (the broker API)', async () => {
    const refund = send('POST', `${api}/refunds`, { paymentId: 'pay_1003', amount: 10_000, currency: 'GBP', reason: 'Decided by curl' });
    const approve = approveButton(/Refund £100\.00 on payment pay_1003 /);
    await approve.waitFor({ timeout: UI_TIMEOUT });
    const id = await page.locator('li.card', { has: approve }).getAttribute('data-approval-id');

    const decided = await answer(send('POST', `${brokerUrl}/v1/approvals/${id}/decision`, { decision: 'approve' }, { authorization: 'Bearer sk_test_local' }));
    expect(decided.status).toBe(200);
    await approve.waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    await historyRow('Refund £100.00 on payment pay_1003', 'approved').waitFor({ timeout: UI_TIMEOUT });
    expect((await answer(refund)).status).toBe(201);
  });

  it('shows what apps send as text, never as markup', async () => {
    const hostile = {
      action: 'xss.<b>probe</b>',
      summary: '<img src=x onerror="window.__pwned = 1">',
      reason: '"><svg onload="window.__pwned = 2">',
      context: { note: '</pre><script>window.__pwned = 3</script>' },
    };
    const created = await answer(send('POST', `${brokerUrl}/v1/approvals`, hostile, { authorization: 'Bearer sk_test_local' }));
    const card = page.locator(`li.card[data-approval-id="${created.body.id}"]`);
    await card.waitFor({ timeout: UI_TIMEOUT });

    await expect(card.locator('h3').textContent()).resolves.toBe(hostile.summary);
    await expect(card.textContent()).resolves.toContain(hostile.reason);
    await expect(card.locator('.action').textContent()).resolves.toBe(hostile.action);
    expect(JSON.parse((await card.locator('pre.context').textContent())!)).toEqual(hostile.context);
    expect(await card.locator('img, svg, script, b').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

    await denyButton(/<img src=x/).click();
    await card.waitFor({ state: 'detached', timeout: UI_TIMEOUT });
  });

  it('renders pending and decided approvals (screenshot in test-output/dashboard.png), and Deny answers 403 for both gates', async () => {
    const refund = send('POST', `${api}/refunds`, { paymentId: 'pay_1003', amount: 30_000, currency: 'GBP', reason: 'Customer was charged twice' });
    const bulk = send('POST', `${api}/admin/customers/bulk-delete`, { ids: ['cus_grace'] });
    const denyRefund = denyButton(/Refund £300\.00 on payment pay_1003 /);
    const denyBulk = denyButton(/Delete 1 customer: cus_grace /);
    await denyRefund.waitFor({ timeout: UI_TIMEOUT });
    await denyBulk.waitFor({ timeout: UI_TIMEOUT });
    await expect(page.locator('#pending-count').textContent()).resolves.toBe('2');
    await expect(page.title()).resolves.toBe('(2) Sesame approvals');

    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await denyRefund.click();
    await denyBulk.click();
    expect((await answer(refund)).status).toBe(403);
    expect((await answer(bulk)).body).toMatchObject({ statusCode: 403, code: 'approval_denied' });
    await page.locator('#pending-empty').waitFor({ state: 'visible', timeout: UI_TIMEOUT });
    await expect(page.title()).resolves.toBe('Sesame approvals');
    expect(pageProblems).toEqual([]);
  });

  it('stops cleanly on SIGTERM, with a request still waiting and the dashboard still connected', async () => {
    const waiting = send('POST', `${api}/refunds`, { paymentId: 'pay_1003', amount: 10_000, currency: 'GBP', reason: 'Left waiting' });
    await approveButton(/Refund £100\.00 on payment pay_1003 /).waitFor({ timeout: UI_TIMEOUT });

    sample!.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([sample!.exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000, 'still running after 10 s')))]);
    clearTimeout(timer);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(sample!.stdout).toContain('SIGTERM received: stopping the app, the broker and redis-server');
    expect(sample!.stdout).toContain('Stopped.');
    expect(sample!.stderr).toBe('');
    // The shutdown ended the wait: the caller is told to retry, and nothing was approved or run.
    expect(await waiting).toMatchObject({ status: 503, body: { code: 'approval_aborted_shutdown' } });
    await page.locator('#conn[data-state="down"]').waitFor({ timeout: UI_TIMEOUT });
  });
});

describe('the sample app refusing to start', () => {
  const started: SampleAppProcess[] = [];
  afterAll(() => Promise.all(started.map((p) => p.kill())));
  const start = (env: Record<string, string>) => {
    const sample = SampleAppProcess.start(built!.main, env);
    started.push(sample);
    return sample;
  };

  it('exits 1 with a clear message when PORT is not a port', async () => {
    const sample = start({ PORT: '99999', BROKER_PORT: '0' });
    expect(await sample.exited).toEqual({ code: 1, signal: null });
    expect(sample.stderr).toContain('PORT must be a port number from 0 to 65535 (0 picks a free one)');
  });

  it('exits 1 with a clear message when BROKER_PORT is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const sample = start({ PORT: '0', BROKER_PORT: String(port) });
      expect(await sample.exited).toEqual({ code: 1, signal: null });
      expect(sample.stderr).toContain(`BROKER_PORT ${port} is already in use (is another broker running?): set BROKER_PORT=0 to pick a free port`);
    } finally {
      taken.close();
    }
  });

  it('with another broker configured but no webhook secret, fails at boot naming it (and prints no key)', async () => {
    const sample = start({ PORT: '0', SESAME_BROKER_URL: 'http://127.0.0.1:9', SESAME_API_KEY: 'sk_live_do_not_print_me' });
    expect(await sample.exited).toEqual({ code: 1, signal: null });
    expect(sample.stderr).toMatch(/webhook secret/);
    expect(sample.stdout + sample.stderr).not.toContain('sk_live_do_not_print_me');
    expect(sample.stdout).not.toContain('Broker:'); // no embedded broker was started
  });
});

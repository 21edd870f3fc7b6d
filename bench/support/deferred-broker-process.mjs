/**
 * The local broker of deferred-jobs.bench.mjs, in its own process, driven over IPC (forkHelper):
 *
 *   fork('bench/support/deferred-broker-process.mjs')
 *
 * Sends `{ ready: { url, apiKey, webhookSecret } }` (IPC only: the secret never reaches a command line),
 * then answers `{ id, cmd, ... }`:
 * - `stats`: pending approvals and webhook deliveries so far;
 * - `approveJob { jobId }`: approves the job's approval now, answers the instant (epoch ms) it was taken;
 * - `pending`: the pending approvals as `[approvalId, jobId]` (the summary names the job);
 * - `decideAll { decisions: [[approvalId, 'approve' | 'deny']] }`: decides them one after the other
 *   through the broker's own API, as fast as it takes them; answers the first and last decision instants;
 * - `timeline { approvalIds }`: per approval, when it was created and decided and its webhook attempts;
 * - `stop`.
 * Instants are epoch ms with sub-ms precision (performance.timeOrigin + now), comparable across the
 * bench's processes on one machine.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers';
import { LocalBroker } from '../../dist/esm/testing/index.js';
import { serveCommands } from './child-process-rpc.mjs';

const now = () => performance.timeOrigin + performance.now();
const JOB_SUMMARY = /^Bench job (\S+)$/;

const broker = await LocalBroker.start({
  // Every decided approval stays readable: a job promoted late must find its own, not ask again.
  retention: { maxAgeMs: Infinity, maxCount: Infinity },
  // Generous per-attempt timeout: a slow answer under load is measured, not turned into a redelivery.
  webhookRetry: { attempts: 5, baseDelayMs: 200, timeoutMs: 30_000 },
});
const created = new Map();
const decided = new Map();
const byJob = new Map();
broker.on('approval.created', (approval) => {
  created.set(approval.id, now());
  const jobId = JOB_SUMMARY.exec(approval.summary)?.[1];
  if (jobId !== undefined) byJob.set(jobId, approval.id);
});
broker.on('approval.decided', (approval) => decided.set(approval.id, now()));

function deliveriesOf(ids) {
  const wanted = new Set(ids);
  const by = new Map();
  for (const record of broker.deliveries) {
    if (!wanted.has(record.approvalId)) continue;
    const list = by.get(record.approvalId) ?? [];
    list.push({ startedAt: Date.parse(record.startedAt), durationMs: record.durationMs, statusCode: record.statusCode, error: record.error });
    by.set(record.approvalId, list);
  }
  return by;
}

const commands = {
  stats: () => ({
    pending: broker.pendingCount,
    total: broker.list().length,
    deliveries: broker.deliveries.length,
    deliveriesFailed: broker.deliveries.filter((d) => !d.ok).length,
    cpu: process.cpuUsage(),
  }),
  async approveJob({ jobId }) {
    const approvalId = byJob.get(jobId);
    if (approvalId === undefined) throw new Error(`no approval was asked for job ${jobId}`);
    const at = now();
    await broker.approve(approvalId);
    return { at, approvalId };
  },
  pending: () => ({ approvals: broker.list({ status: 'pending' }).map((a) => [a.id, JOB_SUMMARY.exec(a.summary)?.[1] ?? null]) }),
  async decideAll({ decisions }) {
    const first = now();
    for (const [approvalId, decision] of decisions) {
      if (decision === 'approve') await broker.approve(approvalId);
      else await broker.deny(approvalId);
    }
    const last = now();
    return { first, last, decided: decisions.length };
  },
  timeline({ approvalIds }) {
    const deliveries = deliveriesOf(approvalIds);
    return { approvals: approvalIds.map((id) => ({ id, createdAt: created.get(id), decidedAt: decided.get(id), deliveries: deliveries.get(id) ?? [] })) };
  },
  async stop() {
    await broker.stop();
    setImmediate(() => process.disconnect());
    return {};
  },
};

serveCommands(commands, { url: broker.url, apiKey: broker.apiKey, webhookSecret: broker.webhookSecrets[0] });

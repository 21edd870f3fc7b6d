import { Body, Controller, Get, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { JobsOptions, Queue } from 'bullmq';
import { CreatePayoutDto } from '../payouts/create-payout.dto.js';
import { PAYOUT_QUEUE, payoutJobView, type PayoutJobData, type PayoutJobView, type PayoutSent } from './payout-job.js';

/** A run that throws after approval (the bank was down) is retried, under the same approval, at most this often in all. */
const JOB_OPTIONS: JobsOptions = { attempts: 3, backoff: { type: 'exponential', delay: 1_000 } };

/** Payouts as BullMQ jobs: `POST` queues one and answers 202 with its id; `GET` shows where it is. */
@Controller('payouts')
export class DeferredPayoutsController {
  constructor(@InjectQueue(PAYOUT_QUEUE) private readonly queue: Queue<PayoutJobData, PayoutSent>) {}

  @Post()
  @HttpCode(202)
  async create(@Body() dto: CreatePayoutDto): Promise<PayoutJobView> {
    // Plain data, field by field: the approval is bound to the job's data, and the approver sees it.
    const job = await this.queue.add('send', { amount: dto.amount, currency: dto.currency, destination: dto.destination }, JOB_OPTIONS);
    return payoutJobView(job, 'waiting');
  }

  /** The latest 100 payout jobs, newest first. */
  @Get()
  async list(): Promise<PayoutJobView[]> {
    const jobs = await this.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'], 0, 99);
    const views = await Promise.all(jobs.map(async (job) => payoutJobView(job, await job.getState())));
    return views.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  @Get(':jobId')
  async get(@Param('jobId') jobId: string): Promise<PayoutJobView> {
    // The state first, then the job: a job read before its state changed would show the fields of the state before.
    const state = await this.queue.getJobState(jobId);
    const job = await this.queue.getJob(jobId);
    if (!job) throw new NotFoundException(`Payout job ${jobId} not found`);
    return payoutJobView(job, state);
  }
}

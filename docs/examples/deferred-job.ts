// README: "Deferred approvals on BullMQ". Type-checked by `npm test`.
import { BullModule, InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { RequireApproval, SesameModule } from 'nestjs-sesame';

export class PayoutDto {
  amount!: number;
  iban!: string;
}

declare const bank: { send(dto: PayoutDto): Promise<string> };

@Processor('payouts')
export class PayoutsProcessor extends WorkerHost {
  @RequireApproval('payouts.send', {
    mode: 'deferred',
    summary: (job: Job<PayoutDto>) => `Send ${job.data.amount} to ${job.data.iban}`,
  })
  async process(job: Job<PayoutDto>) {
    return bank.send(job.data); // runs only after a human approved this job
  }
}

@Controller('payouts')
export class PayoutsController {
  constructor(@InjectQueue('payouts') private readonly payouts: Queue<PayoutDto>) {}

  @Post()
  @HttpCode(202)
  async create(@Body() dto: PayoutDto) {
    const job = await this.payouts.add('send', dto, { attempts: 5, backoff: { type: 'exponential', delay: 1_000 } });
    return { jobId: job.id };
  }
}

@Module({
  imports: [
    BullModule.forRoot({ connection: { url: process.env.REDIS_URL } }),
    BullModule.registerQueue({ name: 'payouts' }),
    SesameModule.forRoot({
      webhookPath: '/sesame/webhook',
      store: { type: 'redis', url: process.env.REDIS_URL }, // required: the single use outlives any process
      deferred: {
        callbackUrl: 'https://api.example.com/sesame/webhook', // the decision resumes the job at once
        recheckInterval: 30_000, // without a webhook, each waiting job looks again this often
      },
    }),
  ],
  providers: [PayoutsProcessor],
  controllers: [PayoutsController],
})
export class PayoutsModule {}

export async function approvalOf(queue: Queue<PayoutDto>, jobId: string) {
  const job = await queue.getJob(jobId);
  const progress = job?.progress as { sesame?: { approvalId: string; status: 'pending' } } | undefined;
  return progress?.sesame?.approvalId; // also shown as the job's progress in Bull Board
}

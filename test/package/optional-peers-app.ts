/**
 * Run by optional-peers.spec.ts in a process of its own: a REST app with SesameModule and a gated
 * route, booted and called once, so every module the package needs for it is loaded.
 */
import 'reflect-metadata';

declare global {
  var loadedPackages: () => Promise<{ all: string[]; fromLib: string[] }>;
}

// First the package alone: what importing it loads.
const { RequireApproval, SesameModule } = await import('../../lib/index.js');
const { LocalBroker } = await import('../../lib/testing/index.js');
process.stdout.write(`IMPORTED ${JSON.stringify((await globalThis.loadedPackages()).all)}\n`);
const { Controller, Module, Post } = await import('@nestjs/common');
const { NestFactory } = await import('@nestjs/core');

@Controller('refunds')
class RefundsController {
  @Post()
  @RequireApproval('refunds.create')
  refund() {
    return { refunded: true };
  }
}

const broker = await LocalBroker.start({ apiKeys: ['sk_test_optional_peers'], decide: () => 'approve' });
@Module({ imports: [SesameModule.forRoot({ apiKey: 'sk_test_optional_peers', baseUrl: broker.url, env: {} })], controllers: [RefundsController] })
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: false });
await app.listen(0, '127.0.0.1');
const answer = await fetch(`${await app.getUrl()}/refunds`.replace('[::1]', '127.0.0.1'), { method: 'POST' });
process.stdout.write(`STATUS ${answer.status}\n`);
// Then a running app: what the package itself imports while it serves (Nest core loads installed integrations on its own).
process.stdout.write(`FROM_LIB ${JSON.stringify((await globalThis.loadedPackages()).fromLib)}\n`);
await app.close();
await broker.stop();

// README: "Testing your app with the local broker". Type-checked by `npm test`.
import { Test } from '@nestjs/testing';
import { SesameModule } from 'nestjs-sesame';
import { LocalBroker } from 'nestjs-sesame/testing';

const broker = await LocalBroker.start({ decide: (a) => (a.context?.amount === 42 ? 'approve' : 'deny') });
const moduleRef = await Test.createTestingModule({
  imports: [SesameModule.forRoot({ apiKey: broker.apiKey, baseUrl: broker.url, webhookSecret: broker.webhookSecrets[0] })],
  controllers: [RefundsController],
}).compile();
const app = moduleRef.createNestApplication({ rawBody: true });
await app.init();
// ... send requests with supertest; broker.list() shows what was asked; broker.approve(id) decides by hand
await app.close();
await broker.stop();

import { RefundsController } from './gated-route.js';

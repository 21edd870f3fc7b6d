// README: "The local broker". Type-checked by `npm test`.
import { LocalBroker } from 'nestjs-sesame/testing';

const broker = await LocalBroker.start({ decide: (a) => (a.action === 'payments.refund' ? 'approve' : undefined) });
// point SesameModule at it: { apiKey: broker.apiKey, baseUrl: broker.url, webhookSecret: broker.webhookSecrets[0] }
const approval = await broker.waitForApproval((a) => a.action === 'db.delete'); // the one your code created
await broker.approve(approval.id); // or deny(id), expire(id)
await broker.stop();

// README: "Quick start: the client against the local broker". Type-checked by `npm test`.
import { SesameClient, ApprovalDenied } from 'nestjs-sesame';

const client = new SesameClient({ apiKey: 'sk_test_local', baseUrl: 'http://127.0.0.1:4000' });

const approval = await client.approvals.trigger({
  action: 'db.delete',
  summary: 'Delete 1,204 rows from prod.orders',
  reason: 'GDPR erasure request #882',
  context: { table: 'orders', rows: 1204 },
});
console.log('waiting for a human on', approval.id);
// approve it: curl -X POST -H 'authorization: Bearer sk_test_local' -H 'content-type: application/json' \
//   -d '{"decision":"approve"}' http://127.0.0.1:4000/v1/approvals/<id>/decision

const decided = await approval.wait({ timeout: 300_000 }); // long-polls the broker until decided
if (decided.approved) {
  console.log('approved: deleting');
} else {
  console.log('decision:', decided.status); // "denied" or "expired"
}

export { ApprovalDenied };

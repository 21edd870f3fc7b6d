import { Field, ID, Int, ObjectType } from '@nestjs/graphql';
import type { Payment, Refund } from './payments.ledger.js';

/** GraphQL's view of the ledger's records (code first: the schema is generated from these classes). */
@ObjectType('Payment')
export class PaymentModel implements Payment {
  @Field(() => ID)
  id!: string;

  @Field()
  customer!: string;

  @Field(() => Int, { description: 'Minor units (cents)' })
  amount!: number;

  @Field()
  currency!: string;

  @Field(() => Int, { description: 'Minor units refunded so far' })
  refunded!: number;
}

@ObjectType('Refund')
export class RefundModel implements Refund {
  @Field(() => ID)
  id!: string;

  @Field()
  paymentId!: string;

  @Field(() => Int)
  amount!: number;

  @Field()
  currency!: string;

  @Field()
  reason!: string;

  @Field(() => String)
  status!: 'succeeded';

  @Field()
  createdAt!: string;
}

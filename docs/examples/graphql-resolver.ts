// README: "GraphQL". Type-checked by `npm test`.
import { Args, Field, InputType, Int, Mutation, Resolver } from '@nestjs/graphql';
import { IsInt, IsString, Min } from 'class-validator';
import { RequireApproval } from 'nestjs-sesame';
import { PaymentsService } from './support.js';

@InputType()
export class RefundInput {
  @Field(() => Int) @IsInt() @Min(1) amount!: number;
  @Field() @IsString() customerId!: string;
}

@Resolver()
export class RefundsResolver {
  constructor(private readonly payments: PaymentsService) {}

  @Mutation(() => Int)
  @RequireApproval('payments.refund', {
    summary: (input: RefundInput) => `Refund $${(input.amount / 100).toFixed(2)} to ${input.customerId}`,
  })
  async refund(@Args('input') input: RefundInput) {
    return (await this.payments.refund(input)).refunded;
  }
}

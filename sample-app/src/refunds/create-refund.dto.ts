import { ArgsType, Field, Int } from '@nestjs/graphql';
import { IsIn, IsInt, IsString, Length, Matches, Max, Min } from 'class-validator';

/** A refund request: the body of POST /refunds and the arguments of the GraphQL mutation `refund`, validated the same way. */
@ArgsType()
export class CreateRefundDto {
  @Field()
  @Matches(/^pay_\w{1,40}$/, { message: 'paymentId must look like pay_1001' })
  paymentId!: string;

  /** Minor units (cents). */
  @Field(() => Int, { description: 'Minor units (cents)' })
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  amount!: number;

  @Field()
  @IsIn(['USD', 'EUR', 'GBP'])
  currency!: string;

  @Field()
  @IsString()
  @Length(3, 200)
  reason!: string;
}

import { IsIn, IsInt, IsString, Length, Matches, Max, Min } from 'class-validator';

export class CreateRefundDto {
  @Matches(/^pay_\w{1,40}$/, { message: 'paymentId must look like pay_1001' })
  paymentId!: string;

  /** Minor units (cents). */
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  amount!: number;

  @IsIn(['USD', 'EUR', 'GBP'])
  currency!: string;

  @IsString()
  @Length(3, 200)
  reason!: string;
}

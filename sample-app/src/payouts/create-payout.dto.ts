import { IsIn, IsInt, Matches, Max, Min } from 'class-validator';

export class CreatePayoutDto {
  /** Minor units (cents). */
  @IsInt()
  @Min(1)
  @Max(100_000_000)
  amount!: number;

  @IsIn(['USD', 'EUR', 'GBP'])
  currency!: string;

  /** A bank account, e.g. an IBAN. */
  @Matches(/^[A-Z]{2}\d{2}[A-Z0-9]{8,30}$/, { message: 'destination must be an IBAN such as DE89370400440532013000' })
  destination!: string;
}

// Declarations the README snippets refer to without showing them.
import { Logger } from '@nestjs/common';
import { IsInt, IsString, Min } from 'class-validator';

export class RefundDto {
  @IsInt() @Min(1) amount!: number;
  @IsString() customerId!: string;
}

export class PaymentsService {
  async refund(dto: RefundDto) {
    return { refunded: dto.amount };
  }
}

export class RefundExecutor {
  async execute(approvalId: string) {
    return approvalId;
  }
}

export const logger = new Logger('example');

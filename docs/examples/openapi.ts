// README: "OpenAPI (Swagger)". Type-checked by `npm test`.
import { Body, Controller, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ApiCreatedResponse, ApiProperty, DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { RequireApproval, SesameModule } from 'nestjs-sesame';

class RefundResult {
  @ApiProperty() refunded!: number;
}

@Controller('refunds')
export class RefundsController {
  constructor(private readonly payments: PaymentsService) {}

  // Documented with 201 (yours) and 202, 400, 403, 409, 503 (the gate's), and the Sesame-Approval-Id header.
  @Post()
  @ApiCreatedResponse({ type: RefundResult })
  @RequireApproval('payments.refund', { mode: 'async' })
  refund(@Body() dto: RefundDto) {
    return this.payments.refund(dto);
  }
}

@Module({ imports: [SesameModule.forRoot({ isGlobal: true })], controllers: [RefundsController], providers: [PaymentsService] })
export class AppModule {}

export async function bootstrap() {
  const app = await NestFactory.create(AppModule);
  const document = SwaggerModule.createDocument(app, new DocumentBuilder().setTitle('Payments').build());
  SwaggerModule.setup('docs', app, document);
  await app.listen(3000);
}

import { PaymentsService, RefundDto } from './support.js';

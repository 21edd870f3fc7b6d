import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { BulkDeleteCustomersDto } from './bulk-delete-customers.dto.js';
import { CustomersService, type BulkDeleteResult, type Customer } from './customers.service.js';

@Controller('admin/customers')
export class CustomersController {
  constructor(private readonly customers: CustomersService) {}

  @Get()
  list(): Customer[] {
    return this.customers.list();
  }

  /** Not gated here: the service method is. The request still waits for the decision. */
  @Post('bulk-delete')
  @HttpCode(200)
  bulkDelete(@Body() dto: BulkDeleteCustomersDto): Promise<BulkDeleteResult> {
    return this.customers.bulkDelete(dto.ids);
  }
}

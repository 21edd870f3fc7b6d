// README: "Gate a service method". Type-checked by `npm test`.
import { Injectable } from '@nestjs/common';
import { ApprovalDenied, RequireApproval } from 'nestjs-sesame';
import { logger } from './support.js';

declare const orders: OrdersService;
declare const ids: string[];

@Injectable()
export class OrdersService {
  @RequireApproval('db.bulk-delete', {
    summary: (table: string, ids: string[]) => `Delete ${ids.length} rows from ${table}`,
  })
  async deleteRows(table: string, ids: string[]) {
    // runs only after a human approved
  }
}

try {
  await orders.deleteRows('orders', ids);
} catch (error) {
  if (error instanceof ApprovalDenied) logger.warn(`rejected by operator (${error.status})`);
}

import { IsInt, IsObject, IsOptional, IsString, IsUrl, Length, Max, Min } from 'class-validator';
import { RequestRejectedError } from '../errors.js';
import { validatePlain } from '../validation/validate-plain.js';
import type { TriggerApprovalInput } from './approval.types.js';

/** The checks `approvals.trigger()` runs before anything is sent, so a bad call fails fast and typed. */
class TriggerApprovalRules {
  @IsString() @Length(1, 200) action!: string;
  @IsString() @Length(1, 2000) summary!: string;
  @IsOptional() @IsString() reason?: string;
  @IsOptional() @IsObject() context?: Record<string, unknown>;
  @IsOptional() @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] }) callbackUrl?: string;
  @IsOptional() @IsString() @Length(1, 200) dedupKey?: string;
  // Whole seconds on the wire: at least 1 s, at most 7 days.
  @IsOptional() @IsInt() @Min(1) @Max(604_800_000) expiresIn?: number;
}

export function assertValidTriggerInput(input: TriggerApprovalInput): void {
  if (typeof input !== 'object' || input === null) {
    throw new RequestRejectedError(null, 'invalid_input', 'trigger() takes an object with at least action and summary');
  }
  const problems = validatePlain(TriggerApprovalRules, input);
  if (problems.length > 0) throw new RequestRejectedError(null, 'invalid_input', problems.join('; '));
}

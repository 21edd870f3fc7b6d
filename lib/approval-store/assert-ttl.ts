/** Store durations are whole milliseconds above zero: anything else is a caller bug, not a store outage. */
export function assertTtl(ttl: number): void {
  if (!Number.isInteger(ttl) || ttl <= 0) throw new RangeError(`ApprovalStore: a ttl must be a positive integer of milliseconds (got ${ttl})`);
}

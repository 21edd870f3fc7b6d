/**
 * Brokers write timestamps as `Date#toISOString()` does (docs/protocol.md, Conventions):
 * `2025-01-31T09:15:02.417Z`. Readers also take the rest of RFC 3339 (other fraction digits, a
 * `±HH:MM` offset), which a hosted broker or a webhook relay may send; every instant keeps its zone.
 */
const WIRE_TIMESTAMP = /^(\d{4}|[+-]\d{6})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

/**
 * The instant a wire timestamp names, or undefined for any other text. The pattern refuses the other
 * shapes `new Date` takes (no zone, which it reads as local time; RFC 1123; hour 24); the day must
 * exist in its month, where `new Date` rolls over (February 30th would be March 2nd).
 */
export function parseWireTimestamp(text: string): Date | undefined {
  const match = WIRE_TIMESTAMP.exec(text);
  if (!match) return undefined;
  const year = Number(match[1]);
  // Six digits only where toISOString writes them (outside 0 to 9999): one spelling per instant.
  if (match[1].length === 7 && year >= 0 && year <= 9999) return undefined;
  if (Number(match[3]) > daysInMonth(year, Number(match[2]))) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Days in a month of the proleptic Gregorian calendar, which ISO 8601 and `Date` use. */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

export function formatWireTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

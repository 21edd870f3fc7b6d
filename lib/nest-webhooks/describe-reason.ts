/** A rejection's message for a log line, whatever was thrown. */
export function describe(reason: unknown): string {
  const message = (reason as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(reason);
}

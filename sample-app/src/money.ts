/** Amounts are integer minor units (cents), as payment APIs send them; this is for humans only. */
export function formatMoney(minorUnits: number, currency: string): string {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(minorUnits / 100);
}

/** Amounts are integer minor units (cents), as payment APIs send them; this is for humans only. */
export function formatMoney(minorUnits: number, currency: string): string {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(minorUnits / 100);
}

/** The same without a currency, for limits that apply in whichever currency a payment was made. */
export function formatAmount(minorUnits: number): string {
  return new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(minorUnits / 100);
}

import { describe, expect, it } from '@jest/globals';
import { formatWireTimestamp, parseWireTimestamp } from '../../lib/protocol/wire-timestamp.js';

/**
 * The oracle, built apart from the reader: RFC 3339 with a zone (`Z` or `±HH:MM`), a four-digit or
 * six-digit signed year, whose fields name a real instant, i.e. setting them on a Date changes none.
 */
function expected(text: string): number | undefined {
  const m = /^(\d{4}|[+-]\d{6})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:Z|([+-])(\d\d):(\d\d))$/.exec(text);
  if (!m || m[1] === '-000000') return undefined; // ECMAScript refuses a negative zero year
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const milli = Number((m[7] ?? '0').padEnd(3, '0').slice(0, 3));
  const offsetHours = Number(m[9] ?? 0);
  const offsetMinutes = Number(m[10] ?? 0);
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // unlike Date.UTC, keeps years 0-99 as given
  date.setUTCHours(hour, minute, second, milli);
  const same =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  const offsetMs = (m[8] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  return same ? date.getTime() - offsetMs : undefined;
}

function mismatches(texts: Iterable<string>): string[] {
  const wrong: string[] = [];
  for (const text of texts) {
    if (parseWireTimestamp(text)?.getTime() !== expected(text)) wrong.push(text);
  }
  return wrong;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

describe('parseWireTimestamp', () => {
  it('reads the wire shape to the millisecond', () => {
    expect(parseWireTimestamp('2026-11-24T09:15:42.137Z')?.getTime()).toBe(Date.UTC(2026, 10, 24, 9, 15, 42, 137));
    expect(parseWireTimestamp('1970-01-01T00:00:00.000Z')?.getTime()).toBe(0);
    expect(parseWireTimestamp('2024-02-29T23:59:59.999Z')?.getTime()).toBe(Date.UTC(2024, 1, 29, 23, 59, 59, 999));
  });

  it('reads back what formatWireTimestamp writes, and agrees with new Date, on 20,000 random instants from year 0 to 9999', () => {
    const texts: string[] = [];
    const notIso: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const date = new Date(0);
      date.setUTCFullYear(Math.floor(Math.random() * 10_000), Math.floor(Math.random() * 12), 1 + Math.floor(Math.random() * 31));
      date.setUTCHours(Math.floor(Math.random() * 24), Math.floor(Math.random() * 60), Math.floor(Math.random() * 60), Math.floor(Math.random() * 1000));
      const text = formatWireTimestamp(date.getTime());
      if (text !== date.toISOString()) notIso.push(text);
      texts.push(text);
    }
    expect(notIso).toEqual([]);
    expect(texts.every((text) => parseWireTimestamp(text)?.getTime() === new Date(text).getTime())).toBe(true);
    expect(mismatches(texts)).toEqual([]);
  });

  it('refuses every impossible value of every field (February 30th, day 0 or 32, month 13, hour 24, second 60)', () => {
    const texts: string[] = [];
    for (const year of [0, 1, 99, 100, 999, 1000, 1600, 1899, 1900, 1969, 1970, 2000, 2024, 2026, 2100, 9999]) {
      for (let month = 0; month <= 13; month++) {
        for (let day = 0; day <= 32; day++) {
          for (const [hour, minute, second] of [
            [0, 0, 0],
            [23, 59, 59],
            [24, 0, 0],
            [24, 0, 1],
            [12, 60, 0],
            [12, 0, 60],
            [25, 0, 0],
          ]) {
            for (const milli of [0, 999]) {
              texts.push(`${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}.${pad(milli, 3)}Z`);
            }
          }
        }
      }
    }
    expect(texts.length).toBe(16 * 14 * 33 * 7 * 2);
    expect(mismatches(texts)).toEqual([]);
    // new Date rolls these over; the wire reader does not.
    for (const text of ['2026-02-30T00:00:00.000Z', '2025-02-29T12:00:00.000Z', '2026-04-31T00:00:00.000Z', '2026-11-24T24:00:00.000Z']) {
      expect(Number.isNaN(new Date(text).getTime())).toBe(false);
      expect(parseWireTimestamp(text)).toBeUndefined();
    }
    expect(parseWireTimestamp('2024-02-29T00:00:00.000Z')).toBeDefined();
  });

  it('agrees with the oracle when any one character is replaced, dropped or inserted', () => {
    const base = '2026-02-28T23:59:59.999Z';
    const replacements = ['0', '5', '9', '-', ':', 'T', 't', 'Z', 'z', '.', ',', ' ', '+', '/', 'a', '\u0660', '\uff10', '\0'];
    const texts: string[] = [];
    for (let i = 0; i < base.length; i++) {
      for (const r of replacements) texts.push(base.slice(0, i) + r + base.slice(i + 1));
      texts.push(base.slice(0, i) + base.slice(i + 1));
      texts.push(`${base.slice(0, i)}0${base.slice(i)}`);
    }
    expect(mismatches(texts)).toEqual([]);
  });

  it('reads the six-digit years toISOString writes outside 0 to 9999', () => {
    expect(parseWireTimestamp('+012026-11-24T09:15:42.137Z')?.toISOString()).toBe('+012026-11-24T09:15:42.137Z');
    expect(parseWireTimestamp('-000001-01-01T00:00:00.000Z')?.toISOString()).toBe('-000001-01-01T00:00:00.000Z');
    expect(parseWireTimestamp('-000000-01-01T00:00:00.000Z')).toBeUndefined();
  });

  it('reads the rest of RFC 3339 to the same instant as new Date: other fraction digits, offsets', () => {
    const texts = [
      '2026-11-24T09:15:42Z',
      '2026-11-24T09:15:42.1Z',
      '2026-11-24T09:15:42.137456Z',
      '2026-11-24T09:15:42.137+00:00',
      '2026-11-24T09:15:42.137456+01:00',
      '2026-11-24T09:15:42-00:00',
      '2026-11-24T09:15:42+23:59',
    ];
    expect(texts.filter((text) => parseWireTimestamp(text)?.getTime() !== new Date(text).getTime())).toEqual([]);
    expect(mismatches(texts)).toEqual([]);
    expect(parseWireTimestamp('2026-11-24T09:15:42.137+01:00')?.getTime()).toBe(Date.UTC(2026, 10, 24, 8, 15, 42, 137));
  });

  it('refuses the other shapes new Date would take: no zone, compact offsets, date only, RFC 1123, padding', () => {
    for (const text of [
      '2026-11-24T09:15:42.137', // new Date reads this as local time
      '2026-11-24T09:15:42.137+0200',
      '2026-11-24T09:15:42.Z',
      '2026-11-24t09:15:42.137z',
      '2026-11-24 09:15:42.137Z',
      '2026-11-24',
      '+002026-11-24T09:15:42.137Z',
      'Tue, 24 Nov 2026 09:15:42 GMT',
      ' 2026-11-24T09:15:42.137Z',
      '2026-11-24T09:15:42.137Z\n',
      '',
      'not a date',
    ]) {
      expect(parseWireTimestamp(text)).toBeUndefined();
    }
  });
});

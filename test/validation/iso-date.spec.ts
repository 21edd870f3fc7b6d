import { describe, expect, it } from '@jest/globals';
import { parseIsoDate } from '../../lib/validation/iso-date.js';

/** The contract: the same time value as `new Date(text)`, NaN included, for any string. */
function mismatches(texts: Iterable<string>): string[] {
  const wrong: string[] = [];
  for (const text of texts) {
    if (!Object.is(parseIsoDate(text).getTime(), new Date(text).getTime())) wrong.push(text);
  }
  return wrong;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

describe('parseIsoDate', () => {
  it('reads the broker shape to the millisecond', () => {
    expect(parseIsoDate('2026-11-24T09:15:42.137Z').getTime()).toBe(Date.UTC(2026, 10, 24, 9, 15, 42, 137));
    expect(parseIsoDate('1970-01-01T00:00:00.000Z').getTime()).toBe(0);
    expect(parseIsoDate('2024-02-29T23:59:59.999Z').getTime()).toBe(Date.UTC(2024, 1, 29, 23, 59, 59, 999));
  });

  it('agrees with new Date on 20,000 random instants from year 0 to 9999', () => {
    const texts: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const date = new Date(0); // setUTCFullYear, unlike Date.UTC, keeps years 0-99 as given
      date.setUTCFullYear(Math.floor(Math.random() * 10_000), Math.floor(Math.random() * 12), 1 + Math.floor(Math.random() * 31));
      date.setUTCHours(Math.floor(Math.random() * 24), Math.floor(Math.random() * 60), Math.floor(Math.random() * 60), Math.floor(Math.random() * 1000));
      texts.push(date.toISOString());
    }
    expect(texts.every((text) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(text))).toBe(true);
    expect(mismatches(texts)).toEqual([]);
  });

  it('agrees with new Date on every edge value of every field, valid or not', () => {
    const texts: string[] = [];
    for (const year of [0, 1, 99, 100, 999, 1000, 1600, 1899, 1900, 1969, 1970, 2000, 2024, 2026, 2100, 9999]) {
      for (let month = 0; month <= 13; month++) {
        for (let day = 0; day <= 32; day++) {
          for (const [hour, minute, second] of [[0, 0, 0], [23, 59, 59], [24, 0, 0], [24, 0, 1], [12, 60, 0], [12, 0, 60], [25, 0, 0]]) {
            for (const milli of [0, 999]) {
              texts.push(`${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}.${pad(milli, 3)}Z`);
            }
          }
        }
      }
    }
    expect(texts.length).toBe(16 * 14 * 33 * 7 * 2);
    expect(mismatches(texts)).toEqual([]);
  });

  it('agrees with new Date when any one character is replaced', () => {
    const base = '2026-02-28T23:59:59.999Z';
    const replacements = ['0', '5', '9', '-', ':', 'T', 't', 'Z', 'z', '.', ',', ' ', '+', '/', 'a', '\u0660', '\uff10', '\0'];
    const texts: string[] = [];
    for (let i = 0; i < base.length; i++) {
      for (const r of replacements) texts.push(base.slice(0, i) + r + base.slice(i + 1));
      texts.push(base.slice(0, i) + base.slice(i + 1)); // one character dropped
      texts.push(`${base.slice(0, i)}0${base.slice(i)}`); // one inserted
    }
    expect(mismatches(texts)).toEqual([]);
  });

  it('agrees with new Date on the other shapes brokers send, which it leaves to V8', () => {
    expect(
      mismatches([
        '2026-11-24T09:15:42Z',
        '2026-11-24T09:15:42.137456Z',
        '2026-11-24T09:15:42.137+00:00',
        '2026-11-24T09:15:42.137456+01:00',
        '2026-11-24T09:15:42.137',
        '2026-11-24',
        '+012026-11-24T09:15:42.137Z',
        '-000001-01-01T00:00:00.000Z',
        'Tue, 24 Nov 2026 09:15:42 GMT',
        '',
        'not a date',
      ]),
    ).toEqual([]);
    expect(parseIsoDate('2026-11-24T09:15:42.137+01:00').getTime()).toBe(Date.UTC(2026, 10, 24, 8, 15, 42, 137));
    expect(parseIsoDate('2026-11-24T24:00:01.000Z').getTime()).toBeNaN();
  });
});

const ALPHABET = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Standard-alphabet, padded base64 with nothing else in it. Buffer.from(text, 'base64') skips junk and
 * accepts the URL-safe alphabet silently, so secrets and signatures are checked with this first.
 */
export function isStrictBase64(text: string): boolean {
  return text.length % 4 === 0 && ALPHABET.test(text);
}

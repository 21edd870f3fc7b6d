/**
 * Text that came from outside (a broker's error message, a URL that failed to parse) may quote the
 * API key, a webhook secret or a URL's credentials: masks them before the text reaches an error or a log.
 */
export function redactSecrets(text: string, apiKey: string): string {
  return (
    (apiKey === '' ? text : text.split(apiKey).join('***'))
      // Anywhere, not only at a word boundary: a key glued to other text, or cut short, is still masked.
      .replace(/(sk|whsec)_[A-Za-z0-9_+/=-]+/g, '$1_***')
      .replace(/\b(Bearer|Basic)\s+\S+/gi, '$1 ***')
      .replace(/\/\/[^/@\s]*@/g, '//***@')
  );
}

/**
 * Text that came from outside (a broker's error message, a URL that failed to parse) may quote the
 * API key, a webhook secret or a URL's credentials: masks them before the text reaches an error or a log.
 */
export function redactSecrets(text: string, apiKey: string): string {
  return (apiKey === '' ? text : text.split(apiKey).join('***'))
    .replace(/\b(sk|whsec)_\S*/g, '$1_***')
    .replace(/\b(Bearer|Basic)\s+\S+/gi, '$1 ***')
    .replace(/\/\/[^/@\s]*@/g, '//***@');
}

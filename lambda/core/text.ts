// Text checks shared by the issuer, the proxy and the CLI.
/** Control characters (C0 and DEL): never in a label, a path segment or a value the CLI puts in a query. */
export function hasControlCharacters(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this function's job
  return /[\u0000-\u001f\u007f]/.test(text);
}

/**
 * Credentials out of text that may hold a Redis URL, for error messages:
 * - `scheme://user:password@host…` → `scheme://***@host…`. The userinfo runs to the LAST `@`
 *   of the string: a password may hold `@`, `/`, `:`, spaces or `#` (unencoded, as people type
 *   them), and any of those would end a URL parser's userinfo early and leak the rest. Masking
 *   too much of a URL that carries `@` in its path is the safe mistake. A mistyped scheme
 *   (`redis:/…`, `redis::…`) is masked the same way.
 * - `?password=…` and the like in the query (ioredis reads a URL's query into its options):
 *   the value becomes `***`.
 */
export function maskUrlCredentials(text: string): string {
  return maskQuerySecrets(maskUserinfo(text));
}

/** `scheme://`, and the mistyped `scheme:/` and `scheme::`. */
const SCHEME = /[a-z][a-z0-9+.-]*:(?:\/{1,2}|:)/i;
const QUERY_SECRET = /([?&;](?:password|pass|pwd|passwd|secret|token|auth)=)[^&#\s"']*/gi;

function maskUserinfo(text: string): string {
  const scheme = SCHEME.exec(text);
  if (!scheme) return text;
  const start = scheme.index + scheme[0].length;
  const at = text.lastIndexOf("@");
  if (at < start) return text;
  return `${text.slice(0, start)}***${text.slice(at)}`;
}

function maskQuerySecrets(text: string): string {
  return text.replace(QUERY_SECRET, "$1***");
}

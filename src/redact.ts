/**
 * `scheme://user:password@host…` → `scheme://***@host…`. The userinfo runs to the LAST `@`
 * of the string: a password may hold `@`, `/`, `:`, spaces or `#` (unencoded, as people type
 * them), and any of those would end a URL parser's userinfo early and leak the rest. Masking
 * too much of a URL that carries `@` in its path is the safe mistake.
 */
export function maskUrlCredentials(text: string): string {
  const scheme = /[a-z][a-z0-9+.-]*:\/\//i.exec(text);
  if (!scheme) return text;
  const start = scheme.index + scheme[0].length;
  const at = text.lastIndexOf("@");
  if (at < start) return text;
  return `${text.slice(0, start)}***${text.slice(at)}`;
}

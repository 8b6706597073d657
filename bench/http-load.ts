/**
 * The client side of the end-to-end runs, in the parent process (never in the server's):
 * signing in one session per connection, then autocannon over keep-alive connections,
 * each connection sending its own session's cookie.
 */
import autocannon from "autocannon";

export const BENCH_UA =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
const SIGN_IN_BATCH = 10;

export class LoadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LoadError";
  }
}

/** Signs in `count` users (`record`: the sign-in is also recorded by the manager); their cookies. */
export async function signIn(base: string, users: readonly string[], record: boolean): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < users.length; i += SIGN_IN_BATCH) {
    const batch = await Promise.all(
      users.slice(i, i + SIGN_IN_BATCH).map(async (user) => {
        const res = await fetch(
          `${base}/login?user=${encodeURIComponent(user)}${record ? "&record=1" : ""}`,
          { method: "POST", headers: { "user-agent": BENCH_UA } },
        );
        const body = await res.text();
        if (res.status !== 200) throw new LoadError(`sign-in: HTTP ${res.status} ${body.slice(0, 200)}`);
        const cookie = res.headers
          .getSetCookie()
          .find((c) => c.startsWith("sid="))
          ?.split(";")[0];
        if (!cookie) throw new LoadError("sign-in: no session cookie in the response");
        return cookie;
      }),
    );
    cookies.push(...batch);
  }
  // The load must be signed-in requests: check one cookie really carries its user.
  const me = await fetch(`${base}/me`, { headers: { cookie: cookies[0]!, "user-agent": BENCH_UA } });
  const who = await me.text();
  if (who !== users[0])
    throw new LoadError(
      `sign-in: GET /me answered ${JSON.stringify(who.slice(0, 100))}, expected the signed-in user`,
    );
  return cookies;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
}

/** `cookies.length` keep-alive connections, one cookie each, for `seconds`; fails on any error or non-2xx. */
export async function load(
  base: string,
  method: "GET" | "POST",
  path: string,
  cookies: readonly string[],
  seconds: number,
): Promise<LoadResult> {
  let next = 0;
  const started = performance.now();
  const result = await autocannon({
    url: base + path,
    method,
    connections: cookies.length,
    duration: seconds,
    timeout: 10,
    setupClient: (client) =>
      client.setHeaders({ cookie: cookies[next++ % cookies.length]!, "user-agent": BENCH_UA }),
  });
  const elapsed = (performance.now() - started) / 1000;
  if (result.errors > 0 || result.non2xx > 0) {
    throw new LoadError(
      `${method} ${path}: ${result.errors} connection errors (${result.timeouts} timeouts), ${result.non2xx} non-2xx responses`,
    );
  }
  if (result.requests.total === 0) throw new LoadError(`${method} ${path}: no request completed`);
  return { requests: result.requests.total, seconds: elapsed };
}

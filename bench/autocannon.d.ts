/**
 * The part of autocannon's API the benchmark uses (autocannon ships no types, and adding
 * a types package for four members is not worth a dependency).
 */
declare module "autocannon" {
  namespace autocannon {
    interface Client {
      setHeaders(headers: Record<string, string>): void;
    }
    interface Options {
      url: string;
      method?: "GET" | "POST";
      connections?: number;
      /** Seconds. */
      duration?: number;
      /** Seconds before a request counts as timed out. */
      timeout?: number;
      headers?: Record<string, string>;
      /** Called once per connection, before its first request. */
      setupClient?: (client: Client) => void;
    }
    interface Histogram {
      average: number;
      p50: number;
      p99: number;
      total?: number;
    }
    interface Result {
      requests: Histogram & { total: number };
      latency: Histogram;
      /** Seconds. */
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
    }
    interface Instance extends PromiseLike<Result> {
      stop(): void;
    }
  }
  function autocannon(options: autocannon.Options): autocannon.Instance;
  export default autocannon;
}

/**
 * `rels-session/opentelemetry`: the OpenTelemetry metrics bridge, a separate entry so that
 * only apps that use it need `@opentelemetry/api` (an optional peer dependency).
 */
export { registerRelsSessionMetrics, relsSessionMetricsOptionsSchema } from "./observability/metrics.js";
export type {
  MetricsSource,
  RelsSessionMetrics,
  RelsSessionMetricsOptions,
} from "./observability/metrics.js";

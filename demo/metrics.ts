/**
 * The demo's `/metrics`: rels-session's OpenTelemetry instruments (`rels-session/opentelemetry`)
 * on a MeterProvider read by the Prometheus exporter, served in Prometheus text format by the
 * app itself (the exporter's own HTTP server is not started).
 */
import type { RequestHandler } from "express";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { RelsSession } from "../src/index.js";
import { registerRelsSessionMetrics } from "../src/opentelemetry.js";

let exporter: PrometheusExporter | undefined;

/**
 * One provider per process however many apps are built (the tests build several): the
 * latency and revocation instruments listen to process-wide channels, and `RelsSession`
 * always reads the configuration in force.
 */
function prometheus(): PrometheusExporter {
  if (exporter) return exporter;
  const created = new PrometheusExporter({ preventServerStart: true, withoutTargetInfo: true });
  const provider = new MeterProvider({ readers: [created] });
  registerRelsSessionMetrics(RelsSession, { meter: provider.getMeter("rels-session-demo") });
  exporter = created;
  return created;
}

/** `GET /metrics`: Prometheus text. */
export function metricsRoute(): RequestHandler {
  const source = prometheus();
  return (req, res) => {
    res.set("Cache-Control", "no-store");
    source.getMetricsRequestHandler(req, res);
  };
}

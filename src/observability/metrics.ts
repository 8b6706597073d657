/**
 * OpenTelemetry metrics for rels-session, fed by what the library already knows: live
 * totals from `stats.totals()` (one round trip per collection, no SCAN), operation
 * latencies and revocations from the `diagnostics_channel` tracing channels, and the
 * circuit breaker's state.
 *
 * This module is the `rels-session/opentelemetry` entry, the only one that imports
 * `@opentelemetry/api` (an optional peer): the main entry works without it.
 */
import { tracingChannel, channel } from "node:diagnostics_channel";
import { performance } from "node:perf_hooks";
import { metrics, ValueType, type Attributes, type Meter } from "@opentelemetry/api";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import type { BreakerState } from "../redis/breaker.js";
import type { StatsTotals } from "../stats/stats.js";
import {
  CHANNEL_NAMES,
  STORE_OPERATIONS,
  type BreakerStateMessage,
  type RevocationContext,
  type StoreOperation,
  type StoreOperationContext,
} from "./channels.js";

/** What the bridge reads: `RelsSession` itself, or an instance of `createRelsSession()`. */
export interface MetricsSource {
  readonly stats: { totals(): Promise<StatsTotals> };
  /** Undefined while there is nothing to report (`RelsSession` before `configure`). */
  readonly breakerState: BreakerState | undefined;
}

export const relsSessionMetricsOptionsSchema = z.strictObject({
  /**
   * The meter to create instruments on.
   * @default metrics.getMeter("rels-session") (the global MeterProvider)
   */
  meter: z
    .custom<Meter>((value) => typeof value === "object" && value !== null && "createHistogram" in value)
    .optional(),
  /**
   * Prefix of every instrument name.
   * @default "rels_session"
   */
  prefix: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_.]*$/)
    .optional(),
});
export type RelsSessionMetricsOptions = z.input<typeof relsSessionMetricsOptionsSchema>;

const METRICS_DEFAULTS = {
  prefix: "rels_session",
  meterName: "rels-session",
} as const;

/** The three breaker states, each a 0/1 series so a dashboard can stack or alert on `open`. */
const BREAKER_STATES: readonly BreakerState[] = ["closed", "half-open", "open"];

/** What `registerRelsSessionMetrics` returns: stop observing and unsubscribe from the channels. */
export interface RelsSessionMetrics {
  unregister(): void;
}

/**
 * Register rels-session's instruments on `meter` and keep them fed until `unregister()`:
 *
 * | instrument | kind | attributes |
 * | --- | --- | --- |
 * | `<prefix>.sessions.live` | observable gauge, from `totals()` | none (all), `application`, or `platform` |
 * | `<prefix>.operation.duration` | histogram, seconds | `operation` (get, set, touch, destroy), `outcome` (ok, error) |
 * | `<prefix>.revocations` | counter of sessions ended | `kind` (sessions, all, others, cap) |
 * | `<prefix>.breaker.state` | observable gauge, 1 for the current state | `state` (closed, half-open, open) |
 * | `<prefix>.breaker.transitions` | counter | `state` entered |
 *
 * Latencies and revocations come from the process-wide channels, so they count every
 * instance in the process; totals and the breaker are `source`'s.
 */
export function registerRelsSessionMetrics(
  source: MetricsSource,
  options: RelsSessionMetricsOptions = {},
): RelsSessionMetrics {
  const parsed = relsSessionMetricsOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        path: ["metrics", ...issue.path].join("."),
        message: issue.message,
      })),
    );
  }
  const meter = parsed.data.meter ?? metrics.getMeter(METRICS_DEFAULTS.meterName);
  const prefix = parsed.data.prefix ?? METRICS_DEFAULTS.prefix;

  const live = meter.createObservableGauge(`${prefix}.sessions.live`, {
    description: "Live signed-in sessions (all, by application, or by platform), from the stats counters",
    unit: "{session}",
    valueType: ValueType.INT,
  });
  const breaker = meter.createObservableGauge(`${prefix}.breaker.state`, {
    description: "1 for the circuit breaker's current state, 0 for the others",
    valueType: ValueType.INT,
  });
  const duration = meter.createHistogram(`${prefix}.operation.duration`, {
    description: "Duration of the store operations express-session calls",
    unit: "s",
    valueType: ValueType.DOUBLE,
    advice: {
      explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    },
  });
  const revocations = meter.createCounter(`${prefix}.revocations`, {
    description: "Sessions ended by the manager's logout calls and by maxSessionsPerUser",
    unit: "{session}",
    valueType: ValueType.INT,
  });
  const transitions = meter.createCounter(`${prefix}.breaker.transitions`, {
    description: "Circuit breaker state changes, by the state entered",
    valueType: ValueType.INT,
  });

  const observe = async (observer: Parameters<Parameters<Meter["addBatchObservableCallback"]>[0]>[0]) => {
    const state = source.breakerState;
    if (state !== undefined)
      for (const s of BREAKER_STATES) observer.observe(breaker, s === state ? 1 : 0, { state: s });
    let totals: StatsTotals;
    try {
      totals = await source.stats.totals();
    } catch {
      return; // Redis down: a gap in the series says so better than a zero would
    }
    observer.observe(live, totals.totalSessions);
    for (const [application, count] of Object.entries(totals.byApplication))
      observer.observe(live, count, { application });
    for (const [platform, count] of Object.entries(totals.byPlatform))
      observer.observe(live, count, { platform });
  };
  meter.addBatchObservableCallback(observe, [live, breaker]);

  const started = new WeakMap<object, number>();
  const unsubscribers: Array<() => void> = [];
  for (const operation of STORE_OPERATIONS) {
    const traced = tracingChannel<unknown, StoreOperationContext>(CHANNEL_NAMES.store(operation));
    const handlers = {
      start: (context: StoreOperationContext) => void started.set(context, performance.now()),
      end: () => undefined,
      asyncStart: () => undefined,
      asyncEnd: (context: StoreOperationContext) => record(operation, context),
      error: () => undefined,
    };
    traced.subscribe(handlers);
    unsubscribers.push(() => traced.unsubscribe(handlers));
  }
  // One attributes object per series, made once: record() runs twice per HTTP request.
  const series = {} as Record<StoreOperation, { ok: Attributes; error: Attributes }>;
  for (const operation of STORE_OPERATIONS)
    series[operation] = { ok: { operation, outcome: "ok" }, error: { operation, outcome: "error" } };
  const record = (operation: StoreOperation, context: StoreOperationContext) => {
    const at = started.get(context);
    if (at === undefined) return;
    started.delete(context);
    duration.record(
      (performance.now() - at) / 1000,
      series[operation][context.error === undefined ? "ok" : "error"],
    );
  };

  const revoking = tracingChannel<unknown, RevocationContext>(CHANNEL_NAMES.revoke);
  const revocationHandlers = {
    start: () => undefined,
    end: () => undefined,
    asyncStart: () => undefined,
    asyncEnd: (context: RevocationContext) => {
      if (context.error !== undefined) return;
      const ended = typeof context.result === "number" ? context.result : context.result === true ? 1 : 0;
      if (ended > 0) revocations.add(ended, { kind: context.kind });
    },
    error: () => undefined,
  };
  revoking.subscribe(revocationHandlers);
  unsubscribers.push(() => revoking.unsubscribe(revocationHandlers));

  const breakerChannel = channel(CHANNEL_NAMES.breaker);
  const onBreaker = (message: unknown) =>
    transitions.add(1, { state: (message as BreakerStateMessage).state });
  breakerChannel.subscribe(onBreaker);
  unsubscribers.push(() => breakerChannel.unsubscribe(onBreaker));

  return {
    unregister() {
      meter.removeBatchObservableCallback(observe, [live, breaker]);
      for (const unsubscribe of unsubscribers.splice(0)) unsubscribe();
    },
  };
}

/**
 * The numbers a maintainer may tune that are not settings: an app cannot change them. Each
 * says why it has its value. What an app may set has its default in `DEFAULTS` (config.ts),
 * which reads the pool's three from here. A leaf: it imports nothing, so every layer
 * (redis/ included) may import it.
 */
export const TUNABLES = {
  pool: {
    /** One multiplexed ioredis client per pool: pipelining, not connections, carries the load. */
    size: 1,
    /** A request waits this long for a client before it is refused with RedisUnavailableError. */
    acquireTimeoutMs: 5000,
    /** A command that has not answered in a second is treated as Redis being unavailable. */
    commandTimeoutMs: 1000,
    /** The circuit opens after 5 failures in a row and probes again after a second. */
    breaker: { failureThreshold: 5, resetMs: 1000 },
    /** Reconnects start at 50 ms and back off to 2 s: fast after a blip, gentle in an outage. */
    backoff: { baseMs: 50, maxMs: 2000 },
  },
  record: {
    /** A session's filing (its score in the expiry index) is refreshed once per tenth of its lifetime… */
    filingSlackFraction: 0.1,
    /** …and at least once an hour, so the index never lags an expiry by more than that. */
    filingSlackMaxMs: 3_600_000,
    /** One repair after a failover at a time, across processes; a minute bounds a crashed repairer's hold. */
    repairLockMs: 60_000,
    /** How long what `INFO replication` said (is there a replica?) is trusted. */
    replicasCheckMs: 10_000,
    /**
     * Watched sessions looked up per round trip by the re-check after the revocation
     * subscriber reconnects: a process watching 100,000 connections sends 98 pages in turn,
     * not 100,000 EXISTS at once ahead of every request on the shared connection.
     */
    recheckPageSize: 1024,
    /**
     * How long a record whose lifetime ends at its absolute deadline outlives it in Redis
     * (its TTL ends at deadline + this). Reads refuse it from the deadline on and its filings
     * end there, so it is only a key nobody can read: it waits for the lifetime sweep
     * (record/lifetime-sweep.ts) to revoke it with its `lifetime` event, which needs the
     * record (its owner, and proof it was not revoked or idle-expired meanwhile). A minute is
     * twelve sweeps; past it the key leaves silently, as before.
     */
    lifetimeGraceMs: 60_000,
    /**
     * The lifetime sweep runs this often in each process with a revocation subscriber (one at a
     * time per scope): a `lifetime` event comes at most this long after the deadline.
     */
    sweepIntervalMs: 5_000,
    /** A sweeper's hold on the scope's sweep lock: bounds a crashed sweeper's, far above one sweep's time. */
    sweepLockMs: 30_000,
    /**
     * Sessions past their deadline read and revoked per round trip by the sweep (one short
     * script each, in its own slot)…
     */
    sweepPageSize: 256,
    /** …and pages per deadline set per sweep: bounded work; the rest waits for the next sweep. */
    sweepMaxPages: 8,
  },
  users: {
    /** Index entries read and decoded per page: bounded memory and event-loop time; 1,000 sessions in two round trips. */
    indexPageSize: 1024,
    /** Sessions revoked per round trip by the `logout*` calls. */
    revokePageSize: 1024,
    /** The lifetime assumed for a session whose cookie has no expiry (a browser-session cookie): a day. */
    cookielessLifetimeMs: 86_400_000,
    /**
     * The decoded-metadata memo of tracked requests (users/decoded-meta.ts): sessions kept, and
     * the largest stored metadata kept (characters of JSON, objects and arrays, commas and
     * colons); what this library writes is a few hundred characters, four objects and about 60
     * separators, so anything bigger was written by something else and is decoded every time.
     */
    decodedMeta: { entries: 2048, maxChars: 4096, maxContainers: 8, maxSeparators: 96 },
  },
  cli: {
    /** SCAN pages per master the search for other namespaces may walk: bounded on a big keyspace. */
    searchPages: 20,
    /** Keys asked per SCAN page in that search. */
    searchCount: 1000,
  },
} as const;

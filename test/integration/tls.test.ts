/**
 * TLS with a private CA, against a real redis-server listening on a TLS port. openssl
 * makes the CA and the server certificate (for 127.0.0.1 and localhost) in a temp dir.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisConnectionError, RelsSession, type SessionStoreConfigInput } from "../../src/index.js";
import { runCli } from "../../src/cli/program.js";
import { spawnRedisServer, type SpawnedRedis } from "../helpers/redis.js";
import { newSid, sessionFor } from "../support/store-contract.js";

const dir = mkdtempSync(join(tmpdir(), "rels-tls-"));
const file = (name: string) => join(dir, name);
let server: SpawnedRedis;
let tlsPort: number;
let ca: string;

function openssl(...args: string[]): void {
  const result = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (result.error || result.status !== 0) {
    throw new Error(
      `openssl ${args[0]} failed (is openssl installed?): ${result.error?.message ?? result.stderr}`,
    );
  }
}

/** A port nobody listens on now; redis-server takes it for TLS (the plain one is the helper's). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=rels-session test CA",
  );
  openssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  writeFileSync(file("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "2",
    "-extfile",
    "san.ext",
  );
  ca = readFileSync(file("ca.crt"), "utf8");
  tlsPort = await freePort();
  server = await spawnRedisServer({
    args: [
      "--tls-port",
      String(tlsPort),
      "--tls-cert-file",
      file("server.crt"),
      "--tls-key-file",
      file("server.key"),
      "--tls-ca-cert-file",
      file("ca.crt"),
      "--tls-auth-clients",
      "no",
    ],
  });
});

afterAll(async () => {
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await RelsSession.close();
});

function configure(redisOptions: Omit<SessionStoreConfigInput["redisOptions"], "namespace">): void {
  RelsSession.configure(
    { applicationName: "Turtle", redisOptions: { namespace: `t-tls-${randomUUID()}`, ...redisOptions } },
    { env: {} },
  );
}

describe("TLS with a private CA", () => {
  it("configure() with the CA connects over TLS and a session round-trips", async () => {
    configure({ url: `rediss://127.0.0.1:${tlsPort}`, tls: { ca } });
    const store = RelsSession.store();
    const sid = newSid();
    await store.set(sid, sessionFor(60_000, { cart: ["tls"] }));
    expect(await store.get(sid)).toMatchObject({ cart: ["tls"] });
    expect(await store.length()).toBe(1);

    // The CA as bytes, with redis:// and a tls object (TLS because of the object), and SNI.
    configure({ url: `redis://localhost:${tlsPort}`, tls: { ca: Buffer.from(ca), servername: "localhost" } });
    await RelsSession.store().set(newSid(), sessionFor());
  });

  it("without the CA, fails with a certificate error naming the server", async () => {
    configure({ url: `rediss://127.0.0.1:${tlsPort}` });
    const error = await RelsSession.stats.totals().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisConnectionError);
    const failure = error as RedisConnectionError;
    expect(failure.reason).toBe("TLS certificate rejected");
    expect(failure.message).toContain(`127.0.0.1:${tlsPort}: TLS certificate rejected`);
    expect(failure.message).toMatch(/self[- ]signed|unable to (verify|get)/i);
    expect((failure.cause as NodeJS.ErrnoException).code).toMatch(/CERT|ISSUER|SIGNATURE/);
  });

  it("a certificate for another name is rejected (servername)", async () => {
    configure({ url: `rediss://127.0.0.1:${tlsPort}`, tls: { ca, servername: "cache.invalid" } });
    const error = (await RelsSession.stats.totals().catch((e: unknown) => e)) as RedisConnectionError;
    expect(error).toBeInstanceOf(RedisConnectionError);
    expect(error.reason).toBe("TLS certificate rejected");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
  });

  it("the CLI connects with --tls-ca FILE, and without it exits 3 with the certificate error", async () => {
    const namespace = `t-tls-${randomUUID()}`;
    const cli = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(
        ["--url", `rediss://127.0.0.1:${tlsPort}`, "--namespace", namespace, "--json", ...args],
        {
          out: (l) => out.push(l),
          err: (l) => err.push(l),
          env: {},
        },
      );
      return { code, out, err };
    };
    const ok = await cli("--tls-ca", file("ca.crt"), "count");
    expect(ok).toMatchObject({ code: 0, out: [JSON.stringify({ sessions: 0 })] });

    const refused = await cli("count");
    expect(refused.code).toBe(3);
    expect(JSON.parse(refused.err[0]!)).toMatchObject({
      error: { name: "RedisConnectionError", reason: "TLS certificate rejected", exitCode: 3 },
    });

    const missing = await cli("--tls-ca", file("no-such-ca.crt"), "count");
    expect(missing.code).toBe(2);
    expect(missing.err.join("\n")).toContain("--tls-ca: cannot read");
  });
});

/**
 * The devices of the manager contract: what each client sends on every request, what it must be
 * listed with, and `Device`, its own supertest agent (cookie jar) and headers.
 */
import request from "supertest";
import { privateHex } from "../../../src/ids.js";
import type { ActiveSession } from "../../../src/users/manager-types.js";
import type { SessionKeyType, SessionMeta } from "../../../src/users/meta-schema.js";
import { UA } from "../user-agents.js";

export type Headers = Readonly<Record<string, string>>;

export const IOS_APP: Headers = {
  "user-agent": "Turtle/5.12.0 (com.example.turtle; build:5120; iOS 17.4.1) Alamofire/5.9.1",
  appversion: "5.12.0",
  "x-installation-id": "8F14E45F-CEEA-467F-A0E6-1E3E2D5B4C6A",
  "x-device": "iPhone15,2",
  "x-course-id": "course-ios-42",
  "x-forwarded-for": "203.0.113.10",
};

export const ANDROID_APP: Headers = {
  "user-agent": UA.okhttp,
  appversion: "5.11.3",
  "x-device": "Pixel 8",
  "x-course-id": "course-android-7",
  "x-forwarded-for": "198.51.100.7",
};

export const DESKTOP_WEB: Headers = {
  "user-agent": UA.windowsChrome,
  "x-forwarded-for": "192.0.2.33",
};

export const OTHER_WEB: Headers = {
  "user-agent": UA.linuxFirefox,
  "x-forwarded-for": "192.0.2.99",
};

/** What each device of the fixture must be listed with. */
export const EXPECTED = {
  ios: {
    clientPlatform: "ios_app",
    sessionKeyType: "token",
    ip: "203.0.113.10",
    userAgent: IOS_APP["user-agent"],
    appVersion: "5.12.0",
    installationId: "8F14E45F-CEEA-467F-A0E6-1E3E2D5B4C6A",
    device: "iPhone15,2",
    courseId: "course-ios-42",
  },
  android: {
    clientPlatform: "android_app",
    sessionKeyType: "token",
    ip: "198.51.100.7",
    userAgent: UA.okhttp,
    appVersion: "5.11.3",
    installationId: null,
    device: "Pixel 8",
    courseId: "course-android-7",
  },
  web: {
    clientPlatform: "web",
    sessionKeyType: "cookie",
    ip: "192.0.2.33",
    userAgent: UA.windowsChrome,
    appVersion: null,
    installationId: null,
    device: null,
    courseId: null,
  },
} as const;

export const TWO_HOURS = 2 * 3_600_000;
export const IOS_SIGN_IN = new Date("2024-03-04T05:06:07.000Z");

type Agent = ReturnType<typeof request.agent>;
interface HttpReply {
  status: number;
  text: string;
  body: unknown;
}

const DATE_FIELDS = ["signInAt", "lastSeenAt", "createdAt", "expiresAt"] as const;

export function parseMeta<T extends SessionMeta = SessionMeta>(raw: unknown): T {
  const record = { ...(raw as Record<string, unknown>) };
  for (const field of DATE_FIELDS) record[field] = new Date(String(record[field]));
  return record as unknown as T;
}

export interface Account {
  status: number;
  user: string | null;
  sessions: ActiveSession[];
  text: string;
}

export interface LoginOptions {
  expiresAfter?: number;
  signInAt?: Date;
  sessionKeyType?: SessionKeyType;
}

export class Device {
  readonly #agent: Agent;
  #headers: Headers;
  #sid: string | undefined;
  #meta: SessionMeta | undefined;
  /** Client clock around the last sign-in. */
  loginStartedAt = 0;
  loginEndedAt = 0;

  constructor(base: string, headers: Headers) {
    this.#agent = request.agent(base);
    this.#headers = headers;
  }

  /** What the client sends from now on (say, after an app update). */
  setHeaders(headers: Headers): void {
    this.#headers = { ...this.#headers, ...headers };
  }

  get sid(): string {
    if (this.#sid === undefined) throw new Error("this device has no session yet");
    return this.#sid;
  }

  get hex(): string {
    return privateHex(this.sid);
  }

  /** Metadata as the sign-in returned it. */
  get meta(): SessionMeta {
    if (this.#meta === undefined) throw new Error("this device has not signed in");
    return this.#meta;
  }

  get handle(): string {
    return this.meta.sessionId;
  }

  /**
   * Signs in with the parameters in the query string and no body: Node's HTTP client sends
   * the head of a request with a string body in the body's encoding (UTF-8), so header
   * bytes past 0x7f would not arrive as a client sends them (latin1) on a request with one.
   */
  async login(userId: string, options: LoginOptions = {}): Promise<SessionMeta> {
    this.loginStartedAt = Date.now();
    const query = {
      userId,
      ...(options.expiresAfter === undefined ? {} : { expiresAfter: String(options.expiresAfter) }),
      ...(options.signInAt === undefined ? {} : { signInAt: options.signInAt.toISOString() }),
      ...(options.sessionKeyType === undefined ? {} : { sessionKeyType: options.sessionKeyType }),
    };
    const res = await this.#send(this.#agent.post("/login").query(query));
    expectOk("POST /login", res);
    const body = res.body as Record<string, unknown>;
    this.#sid = String(body.sid);
    this.loginEndedAt = Date.now();
    this.#meta = parseMeta(body.meta);
    return this.#meta;
  }

  async record(options: { signInAt?: Date } = {}): Promise<SessionMeta> {
    const body = await this.post(
      "/record",
      options.signInAt ? { signInAt: options.signInAt.toISOString() } : {},
    );
    return parseMeta(body.meta);
  }

  async account(): Promise<Account> {
    const res = await this.#send(this.#agent.get("/account"));
    if (res.status === 401) return { status: 401, user: null, sessions: [], text: res.text };
    expectOk("GET /account", res);
    const body = res.body as { user: string; sessions: unknown[] };
    return {
      status: res.status,
      user: body.user,
      sessions: body.sessions.map((s) => parseMeta<ActiveSession>(s)),
      text: res.text,
    };
  }

  async get(path: string): Promise<Record<string, unknown>> {
    const res = await this.#send(this.#agent.get(path));
    expectOk(`GET ${path}`, res);
    return res.body as Record<string, unknown>;
  }

  async post(path: string, body: object = {}): Promise<Record<string, unknown>> {
    const res = await this.#send(this.#agent.post(path).send(body));
    expectOk(`POST ${path}`, res);
    const reply = res.body as Record<string, unknown>;
    if (typeof reply.sid === "string") this.#sid = reply.sid;
    return reply;
  }

  async #send(req: ReturnType<Agent["get"]>): Promise<HttpReply> {
    const res = await req.set(this.#headers);
    return { status: res.status, text: res.text, body: res.body as unknown };
  }
}

function expectOk(what: string, res: HttpReply): void {
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}: ${res.text}`);
}

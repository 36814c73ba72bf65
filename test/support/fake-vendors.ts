// Local stand-ins for api.stripe.com, api.twilio.com and api.resend.com. They record every request they receive (so
// tests can assert what reached the vendor: real secret in, vault key out, body intact) and answer in each vendor's
// shape. `respond` overrides an answer per test (timeouts, 5xx, prices...).
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { listenOnLoopback } from "./loopback";

export interface ReceivedRequest {
  vendor: string;
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
  at: number;
}

/**
 * An answer: JSON `body`, or `raw` text sent as it is (garbage); after `delayMs`; `trickleMs` sends the body one
 * byte at a time with that pause between bytes. "hang" never answers, "reset" destroys the connection.
 */
export interface Answer {
  status: number;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  delayMs?: number;
  trickleMs?: number;
}

export type Responder = (req: ReceivedRequest) => Answer | "hang" | "reset" | undefined;

export interface FakeVendor {
  url: string;
  received: ReceivedRequest[];
  respond: Responder | undefined;
  /**
   * Objects the fake answers a GET of their path with (before `respond` and the defaults), e.g. a Stripe charge
   * with its `customer` under `/v1/charges/ch_1`.
   */
  objects: Map<string, unknown>;
  close(): Promise<void>;
}

export interface FakeVendors {
  stripe: FakeVendor;
  twilio: FakeVendor;
  resend: FakeVendor;
  env: Record<string, string>;
  /** Every request any fake vendor received. */
  all(): ReceivedRequest[];
  close(): Promise<void>;
}

export const SECRETS = {
  STRIPE_SECRET_KEY: "sk_test_REALSECRET_stripe_0123456789",
  TWILIO_ACCOUNT_SID: "AC00000000000000000000000000000001",
  TWILIO_AUTH_TOKEN: "REALSECRET_twilio_token_abcdef",
  RESEND_API_KEY: "re_REALSECRET_resend_0123456789",
};

const id = (prefix: string) => `${prefix}${randomBytes(8).toString("hex")}`;

export function defaultAnswer(
  vendor: string,
  req: ReceivedRequest,
): { status: number; body: unknown; headers?: Record<string, string> } {
  const path = req.url.split("?")[0]!;
  if (vendor === "stripe") {
    const params = new URLSearchParams(req.body);
    if (req.method === "POST" && path === "/v1/payment_intents") {
      return {
        status: 200,
        headers: { "request-id": id("req_") },
        body: {
          id: id("pi_"),
          object: "payment_intent",
          amount: Number(params.get("amount")),
          currency: params.get("currency"),
        },
      };
    }
    const pi = /^\/v1\/payment_intents\/(pi_[^/]+)$/.exec(path);
    if (req.method === "GET" && pi) {
      return {
        status: 200,
        body: {
          id: pi[1],
          object: "payment_intent",
          amount: 5000,
          amount_capturable: 5000,
          amount_received: 0,
          currency: "usd",
        },
      };
    }
    return { status: 200, headers: { "request-id": id("req_") }, body: { id: id("obj_"), object: "unknown" } };
  }
  if (vendor === "twilio") {
    const params = new URLSearchParams(req.body);
    return {
      status: 201,
      body: {
        sid: id("SM"),
        status: "queued",
        to: params.get("To"),
        body: params.get("Body"),
        price: null,
        price_unit: "USD",
      },
    };
  }
  if (path === "/emails/batch") {
    const emails = JSON.parse(req.body) as unknown[];
    return { status: 200, body: { data: emails.map(() => ({ id: id("em_") })) } };
  }
  return { status: 200, body: { id: id("em_") } };
}

async function startOne(vendor: string): Promise<FakeVendor> {
  const fake: FakeVendor = { url: "", received: [], respond: undefined, objects: new Map(), close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const received: ReceivedRequest = {
        vendor,
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now(),
      };
      fake.received.push(received);
      const object = received.method === "GET" ? fake.objects.get(received.url.split("?")[0]!) : undefined;
      const answer: Answer | "hang" | "reset" =
        (object !== undefined ? { status: 200, body: object } : undefined) ??
        fake.respond?.(received) ??
        defaultAnswer(vendor, received);
      if (answer === "hang") return; // never answers: the proxy's timeout must fire
      if (answer === "reset") return void req.socket.destroy(); // the connection dies after the request arrived
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
        const text = answer.raw ?? JSON.stringify(answer.body);
        if (!answer.trickleMs) return void res.end(text);
        let at = 0;
        const drip = setInterval(() => {
          if (res.destroyed || at >= text.length) {
            clearInterval(drip);
            if (!res.destroyed) res.end();
            return;
          }
          res.write(text[at++]);
        }, answer.trickleMs);
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  // Real vendors keep idle connections open far longer than Node's default 5 s. With that default, a pooled socket
  // the fake closes just as the proxy reuses it resets a call the vendor never saw (kept as spent, 502): a race of
  // the fake's, not of the vendors', which made counts like "exactly 5 reached Stripe" flaky on a busy machine.
  server.keepAliveTimeout = 120_000;
  Object.assign(fake, await listenOnLoopback(server));
  return fake;
}

export async function startFakeVendors(): Promise<FakeVendors> {
  const [stripe, twilio, resend] = await Promise.all([startOne("stripe"), startOne("twilio"), startOne("resend")]);
  return {
    stripe,
    twilio,
    resend,
    env: {
      ...SECRETS,
      KEYBRAKE_STRIPE_URL: stripe.url,
      KEYBRAKE_TWILIO_URL: twilio.url,
      KEYBRAKE_RESEND_URL: resend.url,
    },
    all: () => [...stripe.received, ...twilio.received, ...resend.received],
    close: async () => void (await Promise.all([stripe.close(), twilio.close(), resend.close()])),
  };
}

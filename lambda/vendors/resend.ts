import { type KeybrakeError, UnpriceableRequestError } from "../core/errors";
import { type PricingContext, type ProxiedRequest, parseJsonBody, type Quote, type VendorAdapter } from "./adapter";

/**
 * Resend: `POST /emails` and `POST /emails/batch` are priced per email as Resend counts them (each to, cc
 * and bcc recipient is one email). A permissive batch may be partly refused, so it settles from the answer.
 */
const BATCH_LIMIT = 100;
const RECIPIENT_FIELDS = ["to", "cc", "bcc"] as const;
const UNPRICEABLE = [/^broadcasts\/[^/]+\/send$/];

type Email = Record<string, unknown>;

function parseEmails(req: ProxiedRequest, batch: boolean): Email[] {
  const text = Buffer.from(req.body).toString("utf8");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UnpriceableRequestError("the body is not valid JSON");
  }
  const emails = batch ? parsed : [parsed];
  if (!Array.isArray(emails) || emails.length === 0 || emails.length > BATCH_LIMIT) {
    throw new UnpriceableRequestError(
      batch ? `a batch must be a JSON array of 1 to ${BATCH_LIMIT} emails` : "the body must be a JSON object",
    );
  }
  if (emails.some((e) => typeof e !== "object" || e === null || Array.isArray(e))) {
    throw new UnpriceableRequestError("each email must be a JSON object");
  }
  // JSON.parse keeps the last of duplicate keys; Resend might not. Refuse the ambiguity
  // (docs/guarantees.md#7-priced-as-the-vendor-reads-it).
  for (const field of RECIPIENT_FIELDS) {
    const written = text.match(new RegExp(`(?<!\\\\)"${field}"\\s*:`, "g"))?.length ?? 0;
    const parsedCount = (emails as Email[]).filter((e) => field in e).length;
    if (written > parsedCount) throw new UnpriceableRequestError(`${field} appears more than once in an email`, field);
  }
  return emails as Email[];
}

function recipients(email: Email): number {
  if (email.to === undefined) throw new UnpriceableRequestError("to is required", "to");
  return RECIPIENT_FIELDS.reduce((sum, field) => {
    const value = email[field];
    if (value === undefined) return sum;
    if (typeof value === "string") return sum + 1;
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) return sum + value.length;
    throw new UnpriceableRequestError(`${field} must be a string or an array of strings`, field);
  }, 0);
}

async function quote(req: ProxiedRequest, ctx: PricingContext): Promise<Quote> {
  const route = req.segments.join("/");
  if (req.method !== "POST") return { amountMicro: 0, settlesFromReply: false, basis: {} };
  if (UNPRICEABLE.some((p) => p.test(route))) {
    throw new UnpriceableRequestError(`keybrake cannot price POST /${route} before it runs, so it is not forwarded`);
  }
  if (route !== "emails" && route !== "emails/batch") return { amountMicro: 0, settlesFromReply: false, basis: {} };
  const batch = route === "emails/batch";
  const emails = parseEmails(req, batch);
  const units = emails.reduce((sum, e) => sum + recipients(e), 0);
  const permissive = batch && req.headers.get("x-batch-validation") === "permissive";
  return {
    amountMicro: units * ctx.pricing.resendEmailMicro,
    settlesFromReply: permissive,
    basis: { emails: emails.length, recipients: units },
  };
}

const NAMES: Record<number, string> = {
  400: "validation_error",
  401: "missing_api_key",
  403: "invalid_access",
  404: "not_found",
  413: "validation_error",
  429: "daily_quota_exceeded",
  502: "application_error",
  503: "service_unavailable",
  504: "application_error",
};

export const resend: VendorAdapter<"resend"> = {
  vendor: "resend",
  // Resend keeps an Idempotency-Key 24 hours on POST /emails and /emails/batch (the fingerprint has the path).
  idempotency: { windowMs: 24 * 3_600_000, scopeHeaders: [] },
  authorization: (secret) => `Bearer ${secret}`,
  quote,
  settleSuccess(req, q, reply) {
    if (!q.settlesFromReply) return { kind: "settled", actualMicro: q.amountMicro };
    // Permissive batch: the emails listed in `errors` were not sent; keep only the accepted ones.
    const body = parseJsonBody(reply) as { errors?: Array<{ index?: unknown }> } | undefined;
    const failed = new Set((body?.errors ?? []).map((e) => e.index));
    const emails = parseEmails(req, true);
    const sent = emails.reduce((sum, e, i) => (failed.has(i) ? sum : sum + recipients(e)), 0);
    return { kind: "settled", actualMicro: (q.amountMicro / Number(q.basis.recipients)) * sent };
  },
  replyIds(reply) {
    const body = parseJsonBody(reply) as { id?: unknown; data?: Array<{ id?: unknown }> } | undefined;
    const ids =
      typeof body?.id === "string"
        ? [body.id]
        : (body?.data ?? []).map((d) => d.id).filter((id) => typeof id === "string");
    return { objectId: ids.length ? ids.join(",") : undefined, requestId: reply.headers["x-request-id"] };
  },
  refusal(error: KeybrakeError) {
    const name = error.code === "missing_key" || error.status !== 401 ? NAMES[error.status] : "restricted_api_key";
    return {
      status: error.status,
      headers: { "content-type": "application/json" },
      body: {
        statusCode: error.status,
        name: name ?? "application_error",
        message: error.message,
        keybrake_code: error.code,
        ...error.details,
      },
    };
  },
};

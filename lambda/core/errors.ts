// Typed refusals. Every refusal the proxy or the issuer gives is one of these; the HTTP layer turns
// it into the vendor's error shape (proxy routes) or keybrake's own JSON (issuer routes).

export type RefusalCode =
  | "invalid_request"
  | "unpriceable_request"
  | "payload_too_large"
  | AuthenticationCode
  | "endpoint_not_allowed"
  | "wrong_vendor"
  | "wrong_account"
  | "counterparty_not_allowed"
  | "above_issuer_ceiling"
  | "not_found"
  | "cap_exceeded"
  | "request_cap_exceeded"
  | "vendor_not_configured"
  | "secret_unavailable"
  | "upstream_failed"
  | "upstream_response_too_large"
  | "upstream_timeout"
  | "ledger_unavailable"
  | "budget_contended"
  | "internal_error";

export class KeybrakeError extends Error {
  override name = "KeybrakeError";
  constructor(
    readonly status: number,
    readonly code: RefusalCode,
    message: string,
    /** Extra fields the contract asks the body to carry (cap, spent, allowed_endpoints, ...). */
    readonly details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** 400: the request is malformed; `field` names the offending input. */
export class InvalidRequestError extends KeybrakeError {
  override name = "InvalidRequestError";
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(400, "invalid_request", message, field ? { field } : {});
  }
}

/** 400: the call cannot be priced unambiguously, so it is not forwarded at a guessed price. */
export class UnpriceableRequestError extends KeybrakeError {
  override name = "UnpriceableRequestError";
  constructor(
    message: string,
    readonly param?: string,
  ) {
    super(400, "unpriceable_request", message, param ? { param } : {});
  }
}

export class PayloadTooLargeError extends KeybrakeError {
  override name = "PayloadTooLargeError";
  constructor(limitBytes: number) {
    super(413, "payload_too_large", `request body is larger than ${limitBytes} bytes`, { limit_bytes: limitBytes });
  }
}

/** The refusals of a request with no usable credential (401). */
export type AuthenticationCode =
  | "missing_key"
  | "unknown_key"
  | "expired_key"
  | "revoked_key"
  | "revoked_budget"
  | "expired_budget"
  | "invalid_issuer_token";

/** 401: no usable credential. */
export class AuthenticationError extends KeybrakeError {
  override name = "AuthenticationError";
  constructor(code: AuthenticationCode, message: string) {
    super(401, code, message);
  }
}

/** 403: a valid credential asking for something it may not do. */
export class ForbiddenError extends KeybrakeError {
  override name = "ForbiddenError";
  constructor(
    code: "endpoint_not_allowed" | "wrong_vendor" | "wrong_account" | "above_issuer_ceiling",
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(403, code, message, details);
  }
}

export class NotFoundError extends KeybrakeError {
  override name = "NotFoundError";
  constructor(message: string) {
    super(404, "not_found", message);
  }
}

/**
 * Which cap refused (or, in shadow mode, would have refused) a call: the key's own two, its budget, its issuer's
 * budget for the vendor, the deployment's cap for the vendor (docs/guarantees.md#9-caps-stack).
 */
export type CapName =
  | "daily_usd_cap"
  | "max_request_usd"
  | "budget"
  | "issuer_daily_usd_budget"
  | "deployment_daily_usd_cap";

/** 429: the call's price would cross a cap. The call is refused whole, never shrunk to fit. */
export class CapExceededError extends KeybrakeError {
  override name = "CapExceededError";
  constructor(
    code: "cap_exceeded" | "request_cap_exceeded",
    message: string,
    readonly capDetails: {
      cap: CapName;
      cap_usd: number;
      spent_usd?: number;
      requested_usd: number;
      budget_id?: string;
    },
  ) {
    super(429, code, message, capDetails);
  }
}

export class VendorNotConfiguredError extends KeybrakeError {
  override name = "VendorNotConfiguredError";
  constructor(vendor: string) {
    super(503, "vendor_not_configured", `no ${vendor} secret is configured on this proxy`);
  }
}

/** 503: the vendor secret could not be read before the call's deadline; nothing was reserved or forwarded. */
export class SecretUnavailableError extends KeybrakeError {
  override name = "SecretUnavailableError";
  constructor(vendor: string, options?: ErrorOptions) {
    super(
      503,
      "secret_unavailable",
      `the ${vendor} secret could not be read in time; nothing was forwarded`,
      {},
      options,
    );
  }
}

/** 502: the vendor answered (and acted), but its answer is over what the proxy can return (Lambda's limit). */
export class ResponseTooLargeError extends KeybrakeError {
  override name = "ResponseTooLargeError";
  constructor(limitBytes: number, upstreamStatus: number) {
    super(
      502,
      "upstream_response_too_large",
      `the vendor answered ${upstreamStatus}, but its answer is over the ${limitBytes}-byte response limit keybrake can return; the call was made and is kept as spent`,
      { limit_bytes: limitBytes, upstream_status: upstreamStatus },
    );
  }
}

export class UpstreamError extends KeybrakeError {
  override name = "UpstreamError";
  constructor(message: string, options?: ErrorOptions) {
    super(502, "upstream_failed", message, {}, options);
  }
}

export class UpstreamTimeoutError extends KeybrakeError {
  override name = "UpstreamTimeoutError";
  constructor(timeoutMs: number) {
    super(504, "upstream_timeout", `the vendor did not answer within ${timeoutMs} ms`);
  }
}

/**
 * 503: the call fits its budget's total remaining, but the budget's ledger items kept changing under it (or were
 * throttled) until the reservation's time ran out. Nothing was forwarded; a retry may fit. Never a 429: only a
 * total that does not fit is refused as over the cap.
 */
export class BudgetContendedError extends KeybrakeError {
  override name = "BudgetContendedError";
  constructor(cap: CapName, options?: ErrorOptions) {
    super(
      503,
      "budget_contended",
      `the ${cap} is shared by many calls at once and its ledger items stayed busy until this call's time ran out; nothing was forwarded, retry`,
      { cap },
      options,
    );
  }
}

/** 503: the ledger could not be reached; nothing was forwarded (fail closed). */
export class LedgerUnavailableError extends KeybrakeError {
  override name = "LedgerUnavailableError";
  /** DynamoDB rejected the write itself (it was never applied): nothing to compensate. */
  readonly notApplied: boolean;
  constructor(options?: ErrorOptions & { notApplied?: boolean }) {
    super(503, "ledger_unavailable", "the spend ledger is unreachable; nothing was forwarded", {}, options);
    this.notApplied = options?.notApplied ?? false;
  }
}

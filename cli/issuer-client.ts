// The issuer routes (`/vault/*`) over HTTP, with the issuer token as a bearer token.
import { IncompleteError, RefusedError } from "./errors";

export interface IssuerConfig {
  /** The keybrake base URL, without a trailing slash. */
  url: string;
  apiKey: string;
}

const TIMEOUT_MS = 30_000;

/**
 * One issuer call. 2xx → the parsed body; 4xx → RefusedError with keybrake's code and message (exit 1);
 * 5xx, no answer or an unreadable answer → IncompleteError (exit 3).
 */
export async function issuerRequest<T>(config: IssuerConfig, method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${config.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${config.apiKey}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new IncompleteError(`cannot reach ${config.url}: ${networkReason(error)}`);
  }
  const text = await response.text().catch(() => "");
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (response.ok) {
    if (parsed === undefined)
      throw new IncompleteError(`${method} ${path} answered ${response.status} without a JSON body`);
    return parsed as T;
  }
  const { code, message } = refusal(parsed, text, response);
  if (response.status >= 400 && response.status < 500) throw new RefusedError(response.status, code, message);
  throw new IncompleteError(`${response.status} ${code}: ${message}`);
}

/** keybrake's `{"error":{"code","message"}}`; API Gateway's own `{"message"}`; else the status text. */
function refusal(parsed: unknown, text: string, response: Response): { code: string; message: string } {
  const body = (parsed ?? {}) as { error?: { code?: unknown; message?: unknown }; message?: unknown };
  const code = typeof body.error?.code === "string" ? body.error.code : `http_${response.status}`;
  const message =
    typeof body.error?.message === "string"
      ? body.error.message
      : typeof body.message === "string"
        ? body.message
        : text.slice(0, 200).trim() || response.statusText || "no details";
  return { code, message };
}

function networkReason(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError") return `no answer within ${TIMEOUT_MS / 1000} s`;
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

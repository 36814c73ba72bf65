// The issuer's route table: `/vault/*`, Authorization: Bearer <issuer token>.
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { InvalidRequestError, KeybrakeError, PayloadTooLargeError } from "../core/errors";
import {
  authenticateIssuer,
  createBudget,
  type IssuerDeps,
  issueKey,
  revokeLabel,
  revokeOne,
  revokeOneBudget,
  showBudget,
  showKey,
  showSelf,
} from "../issuer/service";

const MAX_BODY_BYTES = 64 * 1024;

export function createIssuerApp(deps: IssuerDeps): Hono {
  const app = new Hono();
  const issuer = (c: Context) => authenticateIssuer(deps, c.req.header("authorization") ?? null);

  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new PayloadTooLargeError(MAX_BODY_BYTES);
      },
    }),
  );
  app.post("/vault/keys", async (c) => c.json(await issueKey(deps, issuer(c), await jsonBody(c)), 201));
  // The vault key's own view of itself, with the vault key as Bearer (before `:keyId`: "self" is no key id).
  app.get("/vault/keys/self", async (c) => c.json(await showSelf(deps, c.req.header("authorization") ?? null)));
  app.get("/vault/keys/:keyId", async (c) => c.json(await showKey(deps, issuer(c), c.req.param("keyId"))));
  app.delete("/vault/keys/:keyId", async (c) => c.json(await revokeOne(deps, issuer(c), c.req.param("keyId"))));
  app.post("/vault/revoke", async (c) => c.json(await revokeLabel(deps, issuer(c), await jsonBody(c))));
  app.post("/vault/budgets", async (c) => c.json(await createBudget(deps, issuer(c), await jsonBody(c)), 201));
  app.get("/vault/budgets/:budgetId", async (c) => c.json(await showBudget(deps, issuer(c), c.req.param("budgetId"))));
  app.delete("/vault/budgets/:budgetId", async (c) =>
    c.json(await revokeOneBudget(deps, issuer(c), c.req.param("budgetId"))),
  );
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((error, c) => {
    if (!(error instanceof KeybrakeError)) {
      deps.log.error("keybrake.issuer failed unexpectedly", { error, route: `${c.req.method} ${c.req.path}` });
    }
    const refusal =
      error instanceof KeybrakeError ? error : new KeybrakeError(500, "internal_error", "the issuer failed");
    return c.json(
      { error: { code: refusal.code, message: refusal.message, ...refusal.details } },
      refusal.status as 400,
    );
  });
  return app;
}

async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidRequestError("the body is not valid JSON", "body");
  }
}

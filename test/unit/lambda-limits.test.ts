// The proxy's own limits sit inside Lambda's, base64 included, so its 413 and 502 are the answers clients see.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  eventBodyBytes,
  fitsLambdaResponse,
  LAMBDA_REQUEST_LIMIT_BYTES,
  LAMBDA_RESPONSE_LIMIT_BYTES,
  MAX_PROXY_BODY_BYTES,
} from "../../lambda/http/lambda-limits";

describe("Lambda payload limits", () => {
  it("the body limit is the largest body whose base64 event still fits Lambda's request limit", () => {
    const base64 = eventBodyBytes(new Uint8Array(MAX_PROXY_BODY_BYTES), true);
    assert.ok(base64 + 64 * 1024 <= LAMBDA_REQUEST_LIMIT_BYTES, `${base64} bytes of base64 fit with the envelope`);
    assert.ok(
      eventBodyBytes(new Uint8Array(MAX_PROXY_BODY_BYTES + 3 * 1024 * 16), true) + 64 * 1024 >
        LAMBDA_REQUEST_LIMIT_BYTES,
    );
  });

  it("answers are measured as API Gateway gets them: JSON escaped as text, binary as base64", () => {
    const reply = (contentType: string, body: Buffer) => ({
      status: 200,
      headers: { "content-type": contentType },
      body,
    });
    const json = Buffer.from(`"${"x".repeat(6_000_000)}"`);
    assert.equal(fitsLambdaResponse(reply("application/json", json)), true);
    assert.equal(fitsLambdaResponse(reply("audio/mpeg", json)), false, "the same bytes, base64, are 8 MB");
    const quotes = Buffer.from(JSON.stringify({ html: '"'.repeat(3_500_000) }));
    assert.equal(fitsLambdaResponse(reply("application/json", quotes)), false, "escaping doubles every quote");
    assert.equal(fitsLambdaResponse(reply("application/json", Buffer.alloc(LAMBDA_RESPONSE_LIMIT_BYTES))), false);
  });
});

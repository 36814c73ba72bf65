// What AWS hands the Lambda handlers, for the tests that invoke them directly (lambda-handlers) or as bundles
// under Node 22 (lambda-bundles): an API Gateway HTTP API (v2) event, and the log stream read back from stdout.
import { randomBytes } from "node:crypto";
import type { APIGatewayProxyEventV2 } from "aws-lambda";

/** An API Gateway HTTP API (v2) event for `method path` (a `?query` goes to rawQueryString), as the $default route sends it. */
export function apiGatewayEvent(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): APIGatewayProxyEventV2 {
  const [rawPath, rawQueryString = ""] = path.split("?");
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: rawPath!,
    rawQueryString,
    headers: { host: "abc123.execute-api.us-east-1.amazonaws.com", ...headers },
    requestContext: {
      accountId: "123456789012",
      apiId: "abc123",
      domainName: "abc123.execute-api.us-east-1.amazonaws.com",
      domainPrefix: "abc123",
      http: { method, path: rawPath!, protocol: "HTTP/1.1", sourceIp: "203.0.113.9", userAgent: "test" },
      requestId: randomBytes(8).toString("hex"),
      routeKey: "$default",
      stage: "$default",
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    body,
    isBase64Encoded: false,
  };
}

/** Everything written to stdout while `work` runs: what a Lambda's CloudWatch log stream would receive. */
export async function captureStdout(work: () => Promise<void>): Promise<string> {
  const write = process.stdout.write;
  let captured = "";
  process.stdout.write = ((chunk: string | Uint8Array) => {
    captured += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return true;
  }) as typeof process.stdout.write;
  try {
    await work();
  } finally {
    process.stdout.write = write;
  }
  return captured;
}

/** The JSON log lines of a captured stdout, one object a line. */
export function logLines(stdout: string): Record<string, any>[] {
  return stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, any>);
}

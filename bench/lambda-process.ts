// The proxy as Lambda runs it: the handler bundle (built by the bench into a folder of its own, AWS SDK inside),
// required once, then invoked with API Gateway HTTP API events one after another, as one warm instance serves
// them. Its DynamoDB and Secrets Manager calls go to DynamoDB Local and the stand-in through the standard endpoint
// variables. Its log lines (the audit records and metrics) are written to a stdout the bench drops.
import { randomBytes } from "node:crypto";
import { sequentialLatencies } from "./stats";
import { cpuMicros, serveCommands } from "./worker";

type Handler = (event: object, context: object) => Promise<{ statusCode: number; body?: string }>;

function event(vaultKey: string, i: number): object {
  const path = "/stripe/v1/payment_intents";
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString: "",
    headers: {
      host: "abc123.execute-api.us-east-1.amazonaws.com",
      authorization: `Bearer ${vaultKey}`,
      "content-type": "application/x-www-form-urlencoded",
      "idempotency-key": `lambda-${process.pid}-${i}`,
      "content-length": "41",
      "x-amzn-trace-id": "Root=1-00000000-000000000000000000000000",
      "x-forwarded-for": "203.0.113.9",
      "x-forwarded-port": "443",
      "x-forwarded-proto": "https",
    },
    requestContext: {
      accountId: "123456789012",
      apiId: "abc123",
      domainName: "abc123.execute-api.us-east-1.amazonaws.com",
      domainPrefix: "abc123",
      http: { method: "POST", path, protocol: "HTTP/1.1", sourceIp: "203.0.113.9", userAgent: "bench" },
      requestId: randomBytes(8).toString("hex"),
      routeKey: "$default",
      stage: "$default",
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    body: "amount=1&currency=usd&customer=cus_bench",
    isBase64Encoded: false,
  };
}

const { handler } = require(process.env.BENCH_LAMBDA_BUNDLE!) as { handler: Handler };
let invocation = 0;
const context = () => ({
  awsRequestId: String(invocation),
  functionName: "keybrake-bench-proxy",
  getRemainingTimeInMillis: () => 30_000,
});

serveCommands({
  invoke: async (a: { n: number; vaultKey: string }) => {
    const cpu = cpuMicros();
    const samples = await sequentialLatencies(a.n, async () => {
      const result = await handler(event(a.vaultKey, invocation++), context());
      if (result.statusCode !== 200) throw new Error(`the proxy handler answered ${result.statusCode}: ${result.body}`);
    });
    return { samples, cpuMicros: cpuMicros() - cpu };
  },
  close: () => setImmediate(() => process.exit(0)),
});

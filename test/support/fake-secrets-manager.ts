// A stand-in for the Secrets Manager API (its JSON 1.1 protocol, GetSecretValue only), so the proxy Lambda's real
// secret loading runs against something that checks what it is asked.
import { createServer } from "node:http";
import { listenOnLoopback } from "./loopback";

export interface FakeSecretsManager {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

export async function startFakeSecretsManager(secrets: Record<string, string>): Promise<FakeSecretsManager> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const { SecretId } = JSON.parse(body) as { SecretId: string };
      requests.push(SecretId);
      const value = req.headers["x-amz-target"] === "secretsmanager.GetSecretValue" ? secrets[SecretId] : undefined;
      res.writeHead(value === undefined ? 400 : 200, { "content-type": "application/x-amz-json-1.1" });
      res.end(
        JSON.stringify(
          value === undefined
            ? { __type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret." }
            : { ARN: SecretId, Name: SecretId, SecretString: value, VersionId: "v1" },
        ),
      );
    });
  });
  return { requests, ...(await listenOnLoopback(server)) };
}

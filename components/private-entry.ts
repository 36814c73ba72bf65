// VPC isolation: endpoints so the Lambdas reach DynamoDB, Secrets Manager and CloudWatch Logs without leaving
// the VPC (vendor calls go out through the team's NAT), and a private REST API reachable only through the
// VPC's execute-api endpoint.
import { createHash } from "node:crypto";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_THROTTLING, type VpcArgs } from "./args";

/**
 * The private API's stage, which its URL carries (`/v1`): use a path-prefix SDK setting (stripe-python `api_base`,
 * twilio `baseUrl`, `RESEND_BASE_URL`) or map a private custom domain.
 */
export const PRIVATE_STAGE = "v1";
export const PRIVATE_BINARY_MEDIA_TYPES = ["*/*"];

export function privateEntry(
  name: string,
  args: {
    vpc: VpcArgs;
    issuer: aws.lambda.Function;
    proxy: aws.lambda.Function;
    throttlingRateLimit?: pulumi.Input<number>;
    throttlingBurstLimit?: pulumi.Input<number>;
  },
  parent: pulumi.Resource,
): pulumi.Output<string> {
  const region = aws.getRegionOutput({}, { parent }).region;
  const service = (s: string) => pulumi.interpolate`com.amazonaws.${region}.${s}`;
  new aws.ec2.VpcEndpoint(
    `${name}-dynamodb`,
    {
      vpcId: args.vpc.vpcId,
      serviceName: service("dynamodb"),
      vpcEndpointType: "Gateway",
      routeTableIds: args.vpc.routeTableIds,
    },
    { parent },
  );
  const interfaceEndpoint = (suffix: string, serviceName: string) =>
    new aws.ec2.VpcEndpoint(
      `${name}-${suffix}`,
      {
        vpcId: args.vpc.vpcId,
        serviceName: service(serviceName),
        vpcEndpointType: "Interface",
        privateDnsEnabled: true,
        subnetIds: args.vpc.subnetIds,
        securityGroupIds: args.vpc.securityGroupIds,
      },
      { parent },
    );
  interfaceEndpoint("secretsmanager", "secretsmanager");
  interfaceEndpoint("logs", "logs");
  const executeApi = interfaceEndpoint("execute-api", "execute-api");

  const api = new aws.apigateway.RestApi(
    `${name}-private`,
    {
      description: "keybrake issuer and proxy (private)",
      endpointConfiguration: { types: "PRIVATE", vpcEndpointIds: [executeApi.id] },
      // Every body is handed over base64 and every answer the proxy marks base64 is sent back as bytes, so
      // binary request bodies and vendor answers (recordings, files) pass unchanged, as on the HTTP API.
      binaryMediaTypes: PRIVATE_BINARY_MEDIA_TYPES,
      policy: executeApi.id.apply((vpce) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*" },
            {
              Effect: "Deny",
              Principal: "*",
              Action: "execute-api:Invoke",
              Resource: "execute-api:/*",
              Condition: { StringNotEquals: { "aws:SourceVpce": vpce } },
            },
          ],
        }),
      ),
    },
    { parent },
  );
  const vault = new aws.apigateway.Resource(
    `${name}-vault`,
    { restApi: api.id, parentId: api.rootResourceId, pathPart: "vault" },
    { parent },
  );
  const vaultAll = new aws.apigateway.Resource(
    `${name}-vault-all`,
    { restApi: api.id, parentId: vault.id, pathPart: "{proxy+}" },
    { parent },
  );
  const all = new aws.apigateway.Resource(
    `${name}-all`,
    { restApi: api.id, parentId: api.rootResourceId, pathPart: "{proxy+}" },
    { parent },
  );
  const integrations: aws.apigateway.Integration[] = [];
  const anyMethod = (suffix: string, resourceId: pulumi.Input<string>, fn: aws.lambda.Function) => {
    const method = new aws.apigateway.Method(
      `${name}-${suffix}`,
      { restApi: api.id, resourceId, httpMethod: "ANY", authorization: "NONE" },
      { parent },
    );
    integrations.push(
      new aws.apigateway.Integration(
        `${name}-${suffix}`,
        {
          restApi: api.id,
          resourceId,
          httpMethod: method.httpMethod,
          type: "AWS_PROXY",
          integrationHttpMethod: "POST",
          uri: fn.invokeArn,
        },
        { parent },
      ),
    );
  };
  anyMethod("vault-any", vaultAll.id, args.issuer);
  anyMethod("proxy-any", all.id, args.proxy);
  anyMethod("root-any", api.rootResourceId, args.proxy);
  for (const [suffix, fn] of [
    ["issuer", args.issuer],
    ["proxy", args.proxy],
  ] as const) {
    new aws.lambda.Permission(
      `${name}-${suffix}-private-invoke`,
      {
        action: "lambda:InvokeFunction",
        function: fn.name,
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${api.executionArn}/*/*`,
      },
      { parent },
    );
  }
  // A new deployment whenever a route, an integration or the binary media types change (a constant would
  // leave the stage serving the old routes).
  const redeployment = pulumi
    .all(integrations.map((i) => pulumi.all([i.resourceId, i.httpMethod, i.type, i.uri])))
    .apply((parts) =>
      createHash("sha256")
        .update(JSON.stringify({ integrations: parts, binaryMediaTypes: PRIVATE_BINARY_MEDIA_TYPES }))
        .digest("hex"),
    );
  const deployment = new aws.apigateway.Deployment(
    `${name}-private`,
    { restApi: api.id, triggers: { redeployment } },
    { parent, dependsOn: integrations },
  );
  const stage = new aws.apigateway.Stage(
    `${name}-private`,
    { restApi: api.id, deployment: deployment.id, stageName: PRIVATE_STAGE },
    { parent },
  );
  // The same throttle as the public entry point's stage, on every method (a REST stage has none by default).
  new aws.apigateway.MethodSettings(
    `${name}-private`,
    {
      restApi: api.id,
      stageName: stage.stageName,
      methodPath: "*/*",
      settings: {
        throttlingRateLimit: args.throttlingRateLimit ?? DEFAULT_THROTTLING.rateLimit,
        throttlingBurstLimit: args.throttlingBurstLimit ?? DEFAULT_THROTTLING.burstLimit,
      },
    },
    { parent },
  );
  return pulumi.interpolate`https://${api.id}-${executeApi.id}.execute-api.${region}.amazonaws.com/${PRIVATE_STAGE}`;
}

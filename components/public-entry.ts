// The public entry point: an API Gateway HTTP API whose `$default` stage serves the host root (stripe-node
// can only change host, port and protocol), `/vault/*` to the issuer and every other path to the proxy.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_THROTTLING } from "./args";

export interface PublicEntryArgs {
  issuer: aws.lambda.Function;
  proxy: aws.lambda.Function;
  throttlingRateLimit?: pulumi.Input<number>;
  throttlingBurstLimit?: pulumi.Input<number>;
  customDomain?: { domainName: pulumi.Input<string>; certificateArn: pulumi.Input<string> };
}

export function publicEntry(name: string, args: PublicEntryArgs, parent: pulumi.Resource): pulumi.Output<string> {
  const api = new aws.apigatewayv2.Api(
    `${name}-http`,
    { protocolType: "HTTP", description: "keybrake issuer and proxy" },
    { parent },
  );
  const route = (fn: aws.lambda.Function, suffix: string, routeKey: string) => {
    const integration = new aws.apigatewayv2.Integration(
      `${name}-${suffix}`,
      { apiId: api.id, integrationType: "AWS_PROXY", integrationUri: fn.invokeArn, payloadFormatVersion: "2.0" },
      { parent },
    );
    new aws.apigatewayv2.Route(
      `${name}-${suffix}`,
      { apiId: api.id, routeKey, target: pulumi.interpolate`integrations/${integration.id}` },
      { parent },
    );
    new aws.lambda.Permission(
      `${name}-${suffix}-invoke`,
      {
        action: "lambda:InvokeFunction",
        function: fn.name,
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${api.executionArn}/*/*`,
      },
      { parent },
    );
  };
  route(args.issuer, "issuer", "ANY /vault/{proxy+}");
  route(args.proxy, "proxy", "$default");
  const stage = new aws.apigatewayv2.Stage(
    `${name}-default`,
    {
      apiId: api.id,
      name: "$default",
      autoDeploy: true,
      defaultRouteSettings: {
        throttlingRateLimit: args.throttlingRateLimit ?? DEFAULT_THROTTLING.rateLimit,
        throttlingBurstLimit: args.throttlingBurstLimit ?? DEFAULT_THROTTLING.burstLimit,
      },
    },
    { parent },
  );
  if (!args.customDomain) return api.apiEndpoint;
  const domain = new aws.apigatewayv2.DomainName(
    `${name}-domain`,
    {
      domainName: args.customDomain.domainName,
      domainNameConfiguration: {
        certificateArn: args.customDomain.certificateArn,
        endpointType: "REGIONAL",
        securityPolicy: "TLS_1_2",
      },
    },
    { parent },
  );
  new aws.apigatewayv2.ApiMapping(
    `${name}-domain`,
    { apiId: api.id, domainName: domain.domainName, stage: stage.name },
    { parent },
  );
  return pulumi.interpolate`https://${domain.domainName}`;
}

// What Pulumi's runtime mocks answer in place of the engine, for the unit tests (pulumi-mocks.ts, under tsx) and for
// the language-host stand-in (pulumi-host.cjs, plain `node` in a child process, which cannot load TypeScript): one
// answer, so both see the same computed outputs. Every resource gets the outputs dependants read (arn, name, id,
// endpoints), so missing wiring cannot hide as empty values; unmocked invokes fail loudly.
"use strict";

const COMPUTED = {
  "aws:apigatewayv2/api:Api": (n) => ({
    apiEndpoint: `https://${n}.execute-api.us-east-1.amazonaws.com`,
    executionArn: `arn:aws:execute-api:us-east-1:123456789012:${n}`,
  }),
  "aws:apigateway/restApi:RestApi": (n) => ({
    rootResourceId: `${n}-root`,
    executionArn: `arn:aws:execute-api:us-east-1:123456789012:${n}`,
  }),
  "aws:lambda/function:Function": (n) => ({
    invokeArn: `arn:aws:apigateway:us-east-1:lambda:path/functions/${n}/invocations`,
  }),
  "random:index/randomPassword:RandomPassword": (n) => ({ result: `token-of-${n}` }),
};

function newResource(args) {
  const state = {
    ...args.inputs,
    name: args.inputs.name ?? `${args.name}-physical`,
    arn: `arn:aws:mock:${args.type}:${args.name}`,
    ...COMPUTED[args.type]?.(args.name),
  };
  return { id: `${args.name}-id`, state };
}

function call(args) {
  if (args.token === "aws:index/getRegion:getRegion")
    return { region: "us-east-1", name: "us-east-1", id: "us-east-1" };
  throw new Error(`unmocked call ${args.token}`);
}

module.exports = { newResource, call };

import * as pulumi from "@pulumi/pulumi";

/**
 * Pulumi runtime mocks (no CLI, no AWS): every registered resource is recorded with its inputs, and the mock
 * fills the computed outputs dependants read (arn, name, id, endpoints), so missing wiring cannot hide as
 * empty values. Unmocked invokes fail loudly.
 */
export const created: pulumi.runtime.MockResourceArgs[] = [];

const COMPUTED: Record<string, (name: string) => Record<string, unknown>> = {
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

export async function installMocks(config: Record<string, string> = {}): Promise<void> {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        created.push(args);
        const state: Record<string, unknown> = {
          ...args.inputs,
          name: args.inputs.name ?? `${args.name}-physical`,
          arn: `arn:aws:mock:${args.type}:${args.name}`,
          ...COMPUTED[args.type]?.(args.name),
        };
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        if (args.token === "aws:index/getRegion:getRegion")
          return { region: "us-east-1", name: "us-east-1", id: "us-east-1" };
        throw new Error(`unmocked call ${args.token}`);
      },
    },
    "keybrake",
    "test",
    false,
  );
  if (Object.keys(config).length) pulumi.runtime.setAllConfig(config);
}

/** Resolves an Output (never assert inside an un-awaited apply). */
export function unwrap<T>(value: pulumi.Input<T>): Promise<pulumi.Unwrap<T>> {
  return new Promise((resolve) => pulumi.output(value).apply((v) => resolve(v as pulumi.Unwrap<T>)));
}

/** The resources registered under one component name, once every child has registered. */
export async function childrenOf(
  prefix: string,
  barrier: pulumi.Output<unknown>[],
): Promise<pulumi.runtime.MockResourceArgs[]> {
  await Promise.all(barrier.map((o) => unwrap(o)));
  // Registrations are asynchronous: wait until the count has stopped changing for a few ticks.
  const mine = () => created.filter((r) => r.name === prefix || r.name.startsWith(`${prefix}-`));
  let seen = -1;
  for (let still = 0; still < 3; ) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const count = mine().length;
    still = count === seen ? still + 1 : 0;
    seen = count;
  }
  return mine();
}

export function one(
  resources: pulumi.runtime.MockResourceArgs[],
  type: string,
  name: string,
): pulumi.runtime.MockResourceArgs {
  const matches = resources.filter((r) => r.type === type && r.name === name);
  if (matches.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${matches.length}`);
  return matches[0]!;
}

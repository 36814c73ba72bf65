// Pulumi runtime mocks (no CLI, no AWS) for the component tests: every registered resource is recorded with its
// inputs; what the mock answers (pulumi-mock-engine.cjs) is shared with pulumi-host.cjs.
import * as pulumi from "@pulumi/pulumi";
import * as engine from "./pulumi-mock-engine.cjs";

/** Every resource registered since the mocks were installed, in order. */
export const created: pulumi.runtime.MockResourceArgs[] = [];

export async function installMocks(config: Record<string, string> = {}): Promise<void> {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        created.push(args);
        return engine.newResource(args);
      },
      call: engine.call,
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

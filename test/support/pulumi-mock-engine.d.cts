// Types of pulumi-mock-engine.cjs for the TypeScript tests that load it.
import type { runtime } from "@pulumi/pulumi";

export declare function newResource(args: runtime.MockResourceArgs): runtime.MockResourceResult;
export declare function call(args: runtime.MockCallArgs): runtime.MockCallResult;

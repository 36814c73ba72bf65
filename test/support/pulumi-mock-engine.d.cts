import type { runtime } from "@pulumi/pulumi";

export declare function newResource(args: runtime.MockResourceArgs): runtime.MockResourceResult;
export declare function call(args: runtime.MockCallArgs): runtime.MockCallResult;

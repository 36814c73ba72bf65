// The Lambda bundles' AWS credentials. Lambda hands every function its execution role's temporary credentials in
// the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), so components/bundle.ts puts this
// module in place of @aws-sdk/credential-provider-node: that chain (SSO, shared config files, credential
// processes, web identity, container and instance metadata, and the STS and SSO clients they need) would be
// compiled on every cold start only to end at the same environment variables. Local mode, the CLI and the tests
// are not bundled and keep the SDK's whole chain.
export { fromEnv as defaultProvider } from "@aws-sdk/credential-provider-env";

// The package root: `import { VaultKeyProxy } from "keybrake"`.
export * from "./components";

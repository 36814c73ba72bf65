// `npm start`: local mode (scripts/local-mode.ts), the same code `keybrake local` runs from the installed package.
// A failure to start is one line saying what to do; exit 2 when the environment is wrong, 3 otherwise.
import { describeFailure, runLocalMode } from "./local-mode";

runLocalMode({ env: process.env, stdout: process.stdout, stderr: process.stderr }).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const { message, usage } = describeFailure(error);
    console.error(`keybrake: ${message}`);
    process.exit(usage ? 2 : 3);
  },
);

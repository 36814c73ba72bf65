import { startFakeStripe } from "./fake-stripe";
import { serveCommands } from "./worker";

/** The fake Stripe in its own process, as the real one is on another machine. */
startFakeStripe().then((stripe) =>
  serveCommands({ close: () => stripe.close().then(() => setImmediate(() => process.exit(0))) }, { url: stripe.url }),
);

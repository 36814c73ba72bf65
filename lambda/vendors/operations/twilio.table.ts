// Twilio's route table, checked when this module is first required (operations/index.ts loads each table lazily).
import { parseVendorRoutes } from "./routes";
import json from "./twilio.routes.json";

export const table = parseVendorRoutes("twilio", json);

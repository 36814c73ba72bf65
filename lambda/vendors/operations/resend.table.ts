// Resend's route table, checked when this module is first required (operations/index.ts loads each table lazily).

import json from "./resend.routes.json";
import { parseVendorRoutes } from "./routes";

export const table = parseVendorRoutes("resend", json);

// The CLI's Logs Insights queries (`keybrake audit`, `keybrake spend`), saved in the console under
// `keybrake/<name>/` with the deployment's log groups: pick one, narrow it (a label, a vendor), run it.
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { recordsQuery, totalsQuery } from "../lambda/audit/queries";

export const SAVED_QUERIES = {
  calls: recordsQuery({}, 1000),
  "spend-by-label": totalsQuery({}, "vendor_label"),
};

export function savedQueries(
  name: string,
  logGroupNames: pulumi.Input<string>[],
  parent: pulumi.Resource,
): aws.cloudwatch.QueryDefinition[] {
  return Object.entries(SAVED_QUERIES).map(
    ([query, queryString]) =>
      new aws.cloudwatch.QueryDefinition(
        `${name}-${query}`,
        { name: `keybrake/${name}/${query}`, logGroupNames, queryString },
        { parent },
      ),
  );
}

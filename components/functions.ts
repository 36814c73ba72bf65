// The three Lambdas, each with its own role (least privilege, exact statements), its own log group (the
// audit trail, retention from args) and a bundle built by esbuild from lambda/handlers/.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type FunctionName, logGroupName, sharedEnvironment } from "../lambda/handlers/config";
import { LEDGER_SCHEMA } from "../lambda/ledger/schema";
import { handlerBundle } from "./bundle";

export interface FunctionSpec {
  name: FunctionName;
  memoryMb: pulumi.Input<number>;
  timeoutSeconds: number;
  environment: Record<string, pulumi.Input<string>>;
  /** IAM policy statements beyond writing its own logs. */
  statements: pulumi.Input<aws.iam.PolicyStatement[]>;
}

export interface DeployedFunction {
  fn: aws.lambda.Function;
  role: aws.iam.Role;
  logGroup: aws.cloudwatch.LogGroup;
}

/** What every function shares: log retention, the metrics namespace, and the VPC placement. */
export interface SharedFunctionSettings {
  logRetentionDays: pulumi.Input<number>;
  /** Where the functions publish their metrics (POWERTOOLS_METRICS_NAMESPACE). */
  metricsNamespace: string;
  vpc?: { subnetIds: pulumi.Input<string>[]; securityGroupIds: pulumi.Input<string>[] };
}

export function deployFunction(
  component: string,
  spec: FunctionSpec,
  shared: SharedFunctionSettings,
  parent: pulumi.Resource,
): DeployedFunction {
  const id = `${component}-${spec.name}`;
  const logGroup = new aws.cloudwatch.LogGroup(
    id,
    { name: logGroupName(component, spec.name), retentionInDays: shared.logRetentionDays },
    { parent },
  );
  const role = new aws.iam.Role(
    id,
    {
      assumeRolePolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
      }),
    },
    { parent },
  );
  // ENI management for VPC Lambdas (these EC2 actions take no resource-level permissions). Not the managed
  // AWSLambdaVPCAccessExecutionRole: it also grants logs:CreateLogGroup and PutLogEvents on every log group of the
  // account, so any function could write into another's audit trail.
  const eni: aws.iam.PolicyStatement[] = shared.vpc
    ? [
        {
          Effect: "Allow",
          Action: [
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
          ],
          Resource: "*",
        },
      ]
    : [];
  const policy = new aws.iam.RolePolicy(
    id,
    {
      role: role.id,
      policy: pulumi.all([logGroup.arn, spec.statements]).apply(([logGroupArn, statements]) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${logGroupArn}:*` },
            ...statements,
            ...eni,
          ],
        }),
      ),
    },
    { parent },
  );
  const bundle = handlerBundle(spec.name);
  const fn = new aws.lambda.Function(
    id,
    {
      role: role.arn,
      runtime: "nodejs22.x",
      architectures: ["arm64"],
      handler: "index.handler",
      code: new pulumi.asset.AssetArchive({ "index.js": new pulumi.asset.StringAsset(bundle.code) }),
      memorySize: spec.memoryMb,
      timeout: spec.timeoutSeconds,
      environment: {
        variables: {
          // The `service` dimension of every metric is the component's name: the alarms and dashboard filter on it.
          ...sharedEnvironment(component, spec.name, shared.metricsNamespace),
          ...spec.environment,
        },
      },
      loggingConfig: { logFormat: "Text", logGroup: logGroup.name },
      vpcConfig: shared.vpc
        ? { subnetIds: shared.vpc.subnetIds, securityGroupIds: shared.vpc.securityGroupIds }
        : undefined,
    },
    // The policy first: Lambda checks a VPC function's role for the ENI actions when it creates the function.
    { parent, dependsOn: [logGroup, policy] },
  );
  return { fn, role, logGroup };
}

/** The ledger statements: exactly these actions, on the table (and its label index where queried). */
export function tableStatement(
  actions: string[],
  tableArn: pulumi.Output<string>,
  withIndex = false,
): pulumi.Output<aws.iam.PolicyStatement> {
  return tableArn.apply((arn) => ({
    Effect: "Allow" as const,
    Action: actions.map((a) => `dynamodb:${a}`),
    Resource: withIndex ? [arn, `${arn}/index/${LEDGER_SCHEMA.labelIndex.name}`] : arn,
  }));
}

/** Runs the orphan sweep every five minutes. */
export function scheduleSweep(
  component: string,
  sweep: aws.lambda.Function,
  parent: pulumi.Resource,
): aws.cloudwatch.EventRule {
  const id = `${component}-sweep`;
  const rule = new aws.cloudwatch.EventRule(
    id,
    { scheduleExpression: "rate(5 minutes)", description: "keybrake orphan reservation sweep" },
    { parent },
  );
  new aws.cloudwatch.EventTarget(id, { rule: rule.name, arn: sweep.arn }, { parent });
  new aws.lambda.Permission(
    id,
    { action: "lambda:InvokeFunction", function: sweep.name, principal: "events.amazonaws.com", sourceArn: rule.arn },
    { parent },
  );
  return rule;
}

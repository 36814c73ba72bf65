// On AWS a cap threshold is also an EventBridge event on the deployment's own event bus, which the component's rule
// routes to the alarm topic (docs/operations.md#warnings-before-the-wall). The client is loaded on the first event,
// not at cold start, with a plain `require` as the Secrets Manager client is (lambda/core/secrets.ts).
import type { EventBridgeClient, PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import type { CapThresholdRecord } from "./record";

export const EVENT_SOURCE = "keybrake";
export const CAP_THRESHOLD_DETAIL_TYPE = "keybrake.cap_threshold";

/** The event one threshold record stands for: its record as the detail, with the deployment's name. */
export function capThresholdEntry(bus: string, deployment: string, record: CapThresholdRecord): PutEventsRequestEntry {
  return {
    EventBusName: bus,
    Source: EVENT_SOURCE,
    DetailType: CAP_THRESHOLD_DETAIL_TYPE,
    Detail: JSON.stringify({ deployment, ...record }),
  };
}

export interface EventSender {
  put(entry: PutEventsRequestEntry, signal: AbortSignal): Promise<{ failed: number }>;
}

/** PutEvents through the AWS SDK, with short timeouts: a warning never holds a call for long. */
export function eventBridgeSender(): EventSender {
  let client: EventBridgeClient | undefined;
  return {
    async put(entry, signal) {
      const sdk = require("@aws-sdk/client-eventbridge") as typeof import("@aws-sdk/client-eventbridge");
      client ??= new sdk.EventBridgeClient({
        maxAttempts: 2,
        requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true } as never,
      });
      const out = await client.send(new sdk.PutEventsCommand({ Entries: [entry] }), { abortSignal: signal });
      return { failed: out.FailedEntryCount ?? 0 };
    },
  };
}

/** Publishes threshold records as events on `bus`; throws when EventBridge did not take it. */
export function capEventPublisher(bus: string, deployment: string, sender: EventSender = eventBridgeSender()) {
  return async (record: CapThresholdRecord): Promise<void> => {
    const { failed } = await sender.put(capThresholdEntry(bus, deployment, record), AbortSignal.timeout(3_000));
    if (failed > 0) throw new Error(`EventBridge refused the ${record.cap} threshold event`);
  };
}

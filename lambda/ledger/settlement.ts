// Ends a reservation in the ledger, in exactly one of the three ways core/ending.ts names: settled at the real
// cost, released, or kept as unsettled. A reservation with a pending marker is finished by removing the marker
// under a condition, so the orphan sweep and a late settlement can never both apply.
import { type AttributeValue, type DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import type { Ending } from "../core/ending";
import { conditionalWrite } from "./dynamo";
import { keyPk } from "./key-record";
import type { Reservation } from "./reservations";

export interface EndingResult {
  /** False when the sweep had already finished this reservation. */
  applied: boolean;
  /** Ledger writes this took (0 for an exact settlement). */
  writes: number;
}

const pendingStillOpen = "attribute_exists(p.#rid)";
const windowExists = "attribute_exists(#w)";
const slotStillOurs = "#slot = :fp";

export async function endReservation(
  db: DynamoDBClient,
  table: string,
  r: Reservation,
  ending: Ending,
): Promise<EndingResult> {
  const delta =
    ending.kind === "released" ? r.amountMicro : ending.kind === "settled" ? r.amountMicro - ending.actualMicro : 0;
  // A retry must not find the slot of a released reservation, or it would be forwarded unreserved.
  const clearSlot = ending.kind === "released" && r.slot !== undefined;
  if (delta === 0 && r.pendingId === undefined && ending.kind !== "unsettled") return { applied: true, writes: 0 };

  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = {};
  const sets: string[] = [];
  const removes: string[] = [];
  const adds: string[] = [];
  const conditions: string[] = [];
  if (delta !== 0) {
    names["#w"] = r.window;
    values[":delta"] = { N: String(delta) };
    sets.push("#w = #w + :delta");
    conditions.push(windowExists);
  }
  if (ending.kind === "unsettled") {
    values[":unsettled"] = { N: String(r.amountMicro) };
    adds.push("unsettled :unsettled");
  }
  if (r.pendingId !== undefined) {
    names["#rid"] = r.pendingId;
    removes.push("p.#rid");
    conditions.push(pendingStillOpen);
  }
  const write = async (withSlot: boolean) => {
    const n = { ...names };
    const v = { ...values };
    const c = [...conditions];
    const rm = [...removes];
    if (withSlot && r.slot) {
      n["#slot"] = r.slot.attr;
      v[":fp"] = { S: r.slot.fingerprint };
      rm.push("#slot");
      c.push(slotStillOurs);
    }
    const expression = [
      sets.length ? `SET ${sets.join(", ")}` : "",
      adds.length ? `ADD ${adds.join(", ")}` : "",
      rm.length ? `REMOVE ${rm.join(", ")}` : "",
    ].join(" ");
    return conditionalWrite(() =>
      db.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: { S: keyPk(r.keyId) } },
          UpdateExpression: expression.trim(),
          ConditionExpression: c.length ? c.join(" AND ") : undefined,
          ExpressionAttributeNames: Object.keys(n).length ? n : undefined,
          ExpressionAttributeValues: Object.keys(v).length ? v : undefined,
        }),
      ),
    );
  };
  const first = await write(clearSlot);
  if (first.applied || !clearSlot) return { applied: first.applied, writes: 1 };
  // The slot now belongs to a newer call: release without touching it.
  const second = await write(false);
  return { applied: second.applied, writes: 2 };
}

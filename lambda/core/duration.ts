// Key lifetimes: "30s", "5m", "2h", "1d", or a whole number of seconds (number or digit string).

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

export function parseDurationSeconds(input: unknown): number | undefined {
  if (typeof input === "number") return Number.isSafeInteger(input) && input > 0 ? input : undefined;
  if (typeof input !== "string") return undefined;
  const m = /^(\d{1,7})([smhd]?)$/.exec(input);
  if (!m) return undefined;
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2] || "s"]!;
  return seconds > 0 ? seconds : undefined;
}

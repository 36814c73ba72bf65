// The CLI's failures, one class per exit code, so scripts can tell "keybrake said no" from "you typed it
// wrong" from "nothing answered" (the exit codes are listed once, in program.ts's EXIT_CODES).

export abstract class CliError extends Error {
  abstract readonly exitCode: 1 | 2 | 3;
}

/** Exit 2: a bad or missing flag, value or environment variable. The message names it. */
export class UsageError extends CliError {
  override name = "UsageError";
  readonly exitCode = 2;
}

/** Exit 1: keybrake answered with a refusal (4xx). */
export class RefusedError extends CliError {
  override name = "RefusedError";
  readonly exitCode = 1;
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(`${status} ${code}: ${detail}`);
  }
}

/** Exit 3: the command could not complete (network, 5xx, AWS, a failed query, an unreadable file). */
export class IncompleteError extends CliError {
  override name = "IncompleteError";
  readonly exitCode = 3;
}

/**
 * A refusal by the protocol: the agent asked for something the rules forbid or the workspace is
 * not in a state that allows it. `message` says what was wrong, `next` what to do instead. Tools
 * turn it into an `isError` result whose text reads as an error on its own ("Refused: ..."),
 * because some clients show error results as bare text with no marker.
 */
export class ProtocolRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly next: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ProtocolRefusal";
  }
}

export function refuse(code: string, message: string, next: string, details?: Record<string, unknown>): never {
  throw new ProtocolRefusal(code, message, next, details);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Sub-parsers throw InstructionError without location; `parseInstruction` attaches file, line and
 * keyword when turning it into a KilnError, so each rule only states what is wrong.
 */
export class InstructionError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export function fail(message: string, hint?: string): never {
  throw new InstructionError(message, hint);
}

/**
 * Sub-parsers throw InstructionError without location; `parseInstruction` attaches file, line,
 * column and keyword when turning it into a KilnError, so each rule only states what is wrong.
 * `needle` is the source text the error is about (a flag word, a mount field): the error's column
 * points at it.
 */
export class InstructionError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly needle?: string,
  ) {
    super(message);
  }
}

export function fail(message: string, hint?: string, needle?: string): never {
  throw new InstructionError(message, hint, needle);
}

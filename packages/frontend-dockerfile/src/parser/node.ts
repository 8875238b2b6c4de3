/**
 * The Dockerfile AST, shaped like BuildKit's `parser.Node` so BuildKit's dump format and
 * conformance data apply unchanged. One root node; each instruction is a child whose arguments
 * hang off `next` as a linked list (ONBUILD nests its sub-instruction in `next.children`).
 */
import { goQuote, goQuoteList } from "./go-quote.js";

/** A heredoc body attached to an instruction (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`). */
export interface Heredoc {
  /** Terminator word with quotes removed, e.g. `EOF`. */
  readonly name: string;
  /** File descriptor prefix (`3<<EOF` ⇒ 3), 0 when absent. */
  readonly fileDescriptor: number;
  /** False when any part of the terminator word was quoted: the body must not be variable-expanded. */
  readonly expand: boolean;
  /** `<<-`: leading tabs are stripped from body lines (use `chompHeredocContent`) and the terminator. */
  readonly chomp: boolean;
  /** Raw body lines, each with its original line ending, terminator excluded. */
  readonly content: string;
}

export interface Node {
  /** Instruction keyword as written (e.g. `copy`, `COPY`) on instruction nodes; argument text otherwise. */
  value: string;
  /** Next argument of the same s-expression. */
  next: Node | undefined;
  /** Instructions (on the root) or the ONBUILD sub-instruction (on ONBUILD's first argument). */
  children: Node[];
  heredocs: Heredoc[];
  /** `json: true` when the arguments were written in JSON (exec) form. */
  attributes: { json?: boolean };
  /** The full logical line after continuation joining (instruction nodes only). */
  original: string;
  /** Raw `--flag[=value]` words before the arguments, with the leading `--` (instruction nodes only). */
  flags: string[];
  /** 1-based first line of the instruction (root: first instruction's line). */
  startLine: number;
  /** 1-based last line, including continuation lines and heredoc bodies. */
  endLine: number;
  /** Comment lines directly above the instruction, `#` and surrounding space removed. */
  prevComment: string[];
}

export function newNode(init: Partial<Node> = {}): Node {
  return {
    value: "",
    next: undefined,
    children: [],
    heredocs: [],
    attributes: {},
    original: "",
    flags: [],
    startLine: 0,
    endLine: 0,
    prevComment: [],
    ...init,
  };
}

/**
 * BuildKit's `Node.Dump`: `(instr ["--flag"] "arg" ...)`, one line per instruction, arguments in Go
 * `strconv.Quote` form. Conformance `result` files equal `dump(ast) + "\n"`.
 */
export function dump(node: Node): string {
  let str = node.value.toLowerCase();
  if (node.flags.length > 0) str += ` ${goQuoteList(node.flags)}`;
  for (const child of node.children) str += `(${dump(child)})\n`;
  for (let n = node.next; n !== undefined; n = n.next) {
    str += ` ${n.children.length > 0 ? dump(n) : goQuote(n.value)}`;
  }
  return str.trim();
}

/**
 * Argument words of an instruction node (BuildKit `nodeArgs`): the `next` chain's values; an ONBUILD
 * sub-instruction contributes its keyword followed by its own arguments.
 */
export function nodeArgs(node: Node): string[] {
  const result: string[] = [];
  for (let n = node.next; n !== undefined; n = n.next) {
    if (n.children.length === 0) result.push(n.value);
    else if (n.children.length === 1) {
      const child = n.children[0] as Node;
      result.push(child.value, ...nodeArgs(child));
    }
  }
  return result;
}

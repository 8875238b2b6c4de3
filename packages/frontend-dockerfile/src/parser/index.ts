export {
  createDirectiveParser,
  type Directive,
  type DirectiveName,
  type DirectiveParser,
  detectSyntax,
} from "./directives.js";
export { goQuote, goQuoteList } from "./go-quote.js";
export { chompHeredocContent, heredocsFromLine, parseHeredoc, tryParseHeredoc } from "./heredoc.js";
export { parseWords } from "./line-parsers.js";
export { dump, type Heredoc, type Node, newNode, nodeArgs } from "./node.js";
export { type ParseResult, type ParseWarning, parse } from "./parser.js";

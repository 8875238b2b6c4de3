export { isDigit, isLetter, isSpace, trimLeftSpace, trimRightSpace, trimSpace } from "./chars.js";
export { type EnvLookup, type EnvSource, toEnvLookup } from "./env.js";
export {
  createLexer,
  type EscapeToken,
  type LexerOptions,
  type ProcessWordResult,
  type ShellLexer,
} from "./lex.js";
export { convertShellPatternToRegex, type ShellPattern } from "./pattern.js";

/** One challenge of a `WWW-Authenticate` header (RFC 7235): a scheme and its parameters. */
export interface AuthChallenge {
  /** Lowercase: `bearer`, `basic`. */
  readonly scheme: string;
  /** Parameter names are lowercased; values are unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses `WWW-Authenticate` values, e.g. `Bearer realm="https://auth/token",service="reg",scope="a b"`.
 * Several challenges may share one header (`Basic realm="x", Bearer realm="y"`), or come in several
 * headers (pass them all). Malformed text ends parsing of that header; what was read is kept.
 */
export function parseChallenges(headers: string | readonly string[] | undefined): AuthChallenge[] {
  if (headers === undefined) return [];
  const list = typeof headers === "string" ? [headers] : headers;
  const out: AuthChallenge[] = [];
  for (const header of list) out.push(...parseOne(header));
  return out;
}

function parseOne(text: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < text.length && TOKEN_CHAR.test(text[i] as string)) i++;
    return text.slice(start, i);
  };
  // Lenient: some servers leave URLs unquoted, which the RFC's token syntax would cut at ':'.
  const readBare = (): string => {
    const start = i;
    while (i < text.length && text[i] !== "," && text[i] !== " " && text[i] !== "\t") i++;
    return text.slice(start, i);
  };
  const readQuoted = (): string => {
    let value = "";
    i++; // opening quote
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\" && i + 1 < text.length) i++;
      value += text[i];
      i++;
    }
    i++; // closing quote
    return value;
  };

  let current: { scheme: string; params: Record<string, string> } | undefined;
  while (i < text.length) {
    skipSpace();
    if (text[i] === ",") {
      i++;
      continue;
    }
    const token = readToken();
    if (token === "") break;
    skipSpace();
    if (text[i] === "=") {
      // A parameter of the current challenge (or a token68 value when no challenge is open).
      i++;
      skipSpace();
      const value = text[i] === '"' ? readQuoted() : readBare();
      if (current) current.params[token.toLowerCase()] = value;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

import { KilnError } from "@kiln/core";

/**
 * `COPY --chmod` in symbolic or octal form, with BuildKit's semantics (BSD `setmode` as vendored by
 * BuildKit, umask 0): `[ugoa]*[+-=][rwxXst]*` clauses separated by `,`, also `+u`-style copies of
 * another class's bits; no `who` means all classes; `X` sets execute only for directories and for files
 * that already have an execute bit (with `+` and `=`; with `-` it clears execute unconditionally).
 * Octal strings set all 12 bits. Modes here are Unix `st_mode` permission bits (0o7777).
 */
export interface ModeSet {
  apply(mode: number, isDir: boolean): number;
}

const SUID = 0o4000;
const SGID = 0o2000;
const STICKY = 0o1000;
const USER = 0o700;
const GROUP = 0o070;
const OTHER = 0o007;
const STANDARD = SUID | SGID | USER | GROUP | OTHER;
const READ = 0o444;
const WRITE = 0o222;
const EXEC = 0o111;

type Command =
  | { readonly op: "+" | "-" | "X"; readonly bits: number }
  | {
      readonly op: "copy";
      readonly from: "u" | "g" | "o";
      readonly how: "+" | "-" | "=";
      readonly who: number;
    };

export function parseModeString(input: string): ModeSet {
  const fail = (): never => {
    throw new KilnError("INVALID_ARGUMENT", `invalid chmod mode ${JSON.stringify(input)}`, {
      hint: "use octal (0755) or symbolic clauses such as u=rwX,go=rX",
    });
  };
  if (input === "") fail();
  if (/^[0-9]/.test(input)) {
    if (!/^[0-7]+$/.test(input)) fail();
    const value = Number.parseInt(input, 8);
    if (value & ~(STANDARD | STICKY)) fail();
    return { apply: (mode) => (mode & ~0o7777) | value };
  }
  const cmds: Command[] = [];
  let s = input;
  for (;;) {
    let who = 0;
    while (s.length > 0 && "augo".includes(s[0] as string)) {
      who |= { a: STANDARD, u: SUID | USER, g: SGID | GROUP, o: OTHER }[s[0] as "a" | "u" | "g" | "o"];
      s = s.slice(1);
    }
    if (s.length === 0) fail();
    let more = true;
    while (more) {
      const op = s[0] as string;
      s = s.slice(1);
      if (op !== "+" && op !== "-" && op !== "=") fail();
      s = parsePerms(s, op as "+" | "-" | "=", who, cmds);
      more = s.length > 0 && s[0] !== ",";
    }
    if (s === "") break;
    s = s.slice(1);
  }
  return { apply: (mode, isDir) => run(cmds, mode, isDir) };
}

/** Consumes one permission list after an operator and appends its commands; returns the rest. */
function parsePerms(input: string, op: "+" | "-" | "=", whoIn: number, cmds: Command[]): string {
  let who = whoIn & ~STICKY;
  let perm = 0;
  let permX = 0;
  let equalDone = false;
  const add = (cmd: "+" | "-" | "=" | "X", bits: number): void => {
    if (cmd === "=") {
      cmds.push({ op: "-", bits: who !== 0 ? who : STANDARD });
      cmds.push({ op: "+", bits: who !== 0 ? who & bits : bits });
    } else {
      cmds.push({ op: cmd, bits: who !== 0 ? who & bits : bits });
    }
  };
  for (let s = input; ; s = s.slice(1)) {
    const ch = s[0];
    if (ch === "r") perm |= READ;
    else if (ch === "w") perm |= WRITE;
    else if (ch === "x") perm |= EXEC;
    else if (ch === "X") {
      if (op === "-") perm |= EXEC;
      else permX = EXEC;
    } else if (ch === "s") {
      if (who === 0 || who & ~OTHER) perm |= SUID | SGID;
    } else if (ch === "t") {
      if (who === 0 || who & ~OTHER) {
        who |= STICKY;
        perm |= STICKY;
      }
    } else if (ch === "u" || ch === "g" || ch === "o") {
      if (perm !== 0) add(op, perm);
      perm = 0;
      if (op === "=") equalDone = true;
      if (permX !== 0) add("X", permX);
      permX = 0;
      cmds.push({ op: "copy", from: ch, how: op, who });
    } else {
      if (perm !== 0 || (op === "=" && !equalDone)) add(op, perm);
      if (permX !== 0) add("X", permX);
      return s;
    }
  }
}

function run(cmds: readonly Command[], mode: number, isDir: boolean): number {
  const original = mode & 0o7777;
  let m = original;
  for (const c of cmds) {
    if (c.op === "copy") {
      const value = c.from === "u" ? (m & USER) >> 6 : c.from === "g" ? (m & GROUP) >> 3 : m & OTHER;
      const targets = c.who !== 0 ? c.who : USER | GROUP | OTHER;
      const spread = (v: number): number =>
        ((targets & USER ? v << 6 : 0) | (targets & GROUP ? v << 3 : 0) | (targets & OTHER ? v : 0)) &
        (USER | GROUP | OTHER);
      if (c.how === "-" || c.how === "=") m &= ~spread(c.how === "=" ? 0o7 : value);
      if (c.how === "+" || c.how === "=") m |= spread(value);
    } else if (c.op === "+") m |= c.bits;
    else if (c.op === "-") m &= ~c.bits;
    else if (original & EXEC || isDir) m |= c.bits;
  }
  return (mode & ~0o7777) | m;
}

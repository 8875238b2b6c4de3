/**
 * Go formatting that BuildKit's history strings use (`%v` of string lists, `time.Duration.String`,
 * `%+v` of the health-check struct), reproduced so `docker history` reads the same.
 */
export function goList(list: readonly string[] | null | undefined): string {
  return `[${(list ?? []).join(" ")}]`;
}

/** Go's `time.Duration.String()` for a nanosecond count. */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let n = Math.abs(ns);
  if (n < 1e9) {
    const [unit, div] = n < 1e3 ? ["ns", 1] : n < 1e6 ? ["µs", 1e3] : ["ms", 1e6];
    return `${neg ? "-" : ""}${trimFraction((n / div).toFixed(9))}${unit}`;
  }
  const hours = Math.floor(n / 3.6e12);
  n -= hours * 3.6e12;
  const minutes = Math.floor(n / 6e10);
  n -= minutes * 6e10;
  const secs = trimFraction((n / 1e9).toFixed(9));
  return `${neg ? "-" : ""}${hours ? `${hours}h` : ""}${hours || minutes ? `${minutes}m` : ""}${secs}s`;
}

function trimFraction(text: string): string {
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

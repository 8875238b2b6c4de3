import type { OpEnvironment } from "./types.js";

/**
 * BuildKit's git http auth: secrets `<GIT_AUTH_HEADER>.<host>`, `<GIT_AUTH_TOKEN>.<host>`, then the
 * plain names (the attrs name them; these are the defaults). A token becomes a Basic header for the
 * user `x-access-token`; a header secret is sent as it is. The first secret found wins.
 */
export async function gitAuthConfig(
  remote: string,
  attrs: Readonly<Record<string, string>>,
  env: OpEnvironment,
): Promise<Record<string, string>> {
  if (!env.secret || !/^https?:\/\//.test(remote)) return {};
  const url = new URL(remote);
  const header = attrs["git.authheadersecret"];
  const token = attrs["git.authtokensecret"];
  const candidates: { name: string; token: boolean }[] = [];
  if (header) candidates.push({ name: `${header}.${url.host}`, token: false });
  if (token) candidates.push({ name: `${token}.${url.host}`, token: true });
  if (header) candidates.push({ name: header, token: false });
  if (token) candidates.push({ name: token, token: true });
  for (const candidate of candidates) {
    const value = await env.secret(candidate.name);
    if (value === undefined) continue;
    const text = Buffer.from(value).toString("utf8");
    const authorization = candidate.token
      ? `basic ${Buffer.from(`x-access-token:${text}`).toString("base64")}`
      : text;
    // Scoped to the remote (like BuildKit), so the header never goes to another repository or host.
    return { [`http.${url.origin}${url.pathname}.extraheader`]: `Authorization: ${authorization}` };
  }
  return {};
}

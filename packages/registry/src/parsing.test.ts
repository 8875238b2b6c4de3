import { describe, expect, it } from "vitest";
import { parseChallenges } from "./challenge.js";
import { endpointsFor, parseRegistryConfig } from "./config.js";
import { describeRequest, registryMessage } from "./errors.js";
import { apiHost, isLoopbackHost, parseRegistryRef } from "./names.js";
import { backoffDelay, parseRetryAfter } from "./retry.js";

const digest = `sha256:${"c".repeat(64)}`;

describe("parseRegistryRef", () => {
  it.each([
    ["busybox", "docker.io", "library/busybox", "latest", undefined],
    ["docker.io/library/busybox", "docker.io", "library/busybox", "latest", undefined],
    ["ghcr.io/org/base:1.2", "ghcr.io", "org/base", "1.2", undefined],
    ["127.0.0.1:5000/busybox", "127.0.0.1:5000", "busybox", "latest", undefined],
    ["localhost:5000/a/b:x", "localhost:5000", "a/b", "x", undefined],
    ["[::1]:5000/app", "[::1]:5000", "app", "latest", undefined],
    [`busybox@${digest}`, "docker.io", "library/busybox", undefined, digest],
    [`reg:5000/app:v1@${digest}`, "reg:5000", "app", "v1", digest],
  ])("%s", (text, host, repository, tag, dig) => {
    expect(parseRegistryRef(text)).toMatchObject({ host, repository, tag, digest: dig });
  });

  it("normalises names like Docker", () => {
    expect(parseRegistryRef("busybox").name).toBe("docker.io/library/busybox:latest");
    expect(apiHost("docker.io")).toBe("registry-1.docker.io");
    expect(apiHost("127.0.0.1:5000")).toBe("127.0.0.1:5000");
  });

  it("rejects non-sha256 digests and bad names", () => {
    expect(() => parseRegistryRef(`app@sha512:${"a".repeat(128)}`)).toThrow(/sha256/);
    expect(() => parseRegistryRef("Hello")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  it.each([
    ["localhost:5000", true],
    ["127.0.0.1", true],
    ["127.8.9.10:80", true],
    ["[::1]:5000", true],
    ["128.0.0.1:5000", false],
    ["registry.example:5000", false],
  ])("isLoopbackHost(%s) = %s", (host, expected) => expect(isLoopbackHost(host)).toBe(expected));
});

describe("parseRegistryConfig", () => {
  const toml = `
[registry."docker.io"]
mirrors = ["mirror.local:5000", "cache.local/hub"]

[registry."mirror.local:5000"]
http = true

[registry."secure.local:443"]
ca = ["certs/ca.pem", "/etc/abs.pem"]
insecure = false

[registry."127.0.0.1:5443"]
ca = ["/tmp/ca.pem"]
`;

  it("reads buildkitd.toml-shaped sections", () => {
    const config = parseRegistryConfig(toml, { file: "/proj/kiln.toml" });
    expect(config.hosts["secure.local:443"]?.ca).toEqual(["/proj/certs/ca.pem", "/etc/abs.pem"]);
    const pull = endpointsFor(config, "docker.io", { pull: true });
    expect(pull.map((e) => [e.host, e.schemes.join("|"), e.prefix, e.mirror])).toEqual([
      ["mirror.local:5000", "http", "/v2", true],
      ["cache.local", "https", "/v2/hub", true],
      ["registry-1.docker.io", "https", "/v2", false],
    ]);
    expect(endpointsFor(config, "docker.io", { pull: false }).map((e) => e.host)).toEqual([
      "registry-1.docker.io",
    ]);
  });

  it("picks schemes: loopback HTTP unless TLS is configured; the insecure attribute falls back to HTTP", () => {
    const config = parseRegistryConfig(toml);
    const scheme = (host: string, insecure = false) =>
      endpointsFor(config, host, { pull: false, insecure }).at(-1)?.schemes.join("|");
    expect(scheme("127.0.0.1:5000")).toBe("http");
    expect(scheme("localhost:5000")).toBe("http");
    expect(scheme("127.0.0.1:5443")).toBe("https");
    expect(scheme("ghcr.io")).toBe("https");
    expect(scheme("ghcr.io", true)).toBe("https|http");
    expect(endpointsFor(config, "ghcr.io", { pull: false, insecure: true })[0]?.tls.insecure).toBe(true);
  });

  it("rejects bad values with the file and line", () => {
    expect(() => parseRegistryConfig(`[registry."a"]\nhttp = "yes"\n`)).toThrow(/must be true or false/);
    expect(() => parseRegistryConfig(`[registry."a"]\nmirrors = "m"\n`)).toThrow(/array of strings/);
    const err = (() => {
      try {
        parseRegistryConfig(`x = 1\n[registry\n`, { file: "kiln.toml" });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toMatchObject({ code: "INVALID_ARGUMENT", location: { file: "kiln.toml", line: 2 } });
    expect(parseRegistryConfig(`[other]\nx = 1\n`).hosts).toEqual({});
  });
});

describe("parseChallenges", () => {
  it("reads bearer parameters, quoted commas and several challenges", () => {
    const challenges = parseChallenges([
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
      'Basic realm="x \\"quoted\\"", Bearer realm=https://t/',
    ]);
    expect(challenges).toEqual([
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.example/token",
          service: "registry.example",
          scope: "repository:a/b:pull,push",
        },
      },
      { scheme: "basic", params: { realm: 'x "quoted"' } },
      { scheme: "bearer", params: { realm: "https://t/" } },
    ]);
    expect(parseChallenges(undefined)).toEqual([]);
  });
});

describe("errors and retry timing", () => {
  it("takes the registry's errors[].message", () => {
    expect(registryMessage('{"errors":[{"code":"DENIED","message":"no way"}]}')).toEqual({
      message: "no way",
      codes: ["DENIED"],
    });
    expect(registryMessage("<html>  oops </html>").message).toBe("<html> oops </html>");
    expect(describeRequest("PUT", new URL("http://u:p@h:1/v2/x/blobs/uploads/1?_state=abc&digest=d"))).toBe(
      "PUT http://h:1/v2/x/blobs/uploads/1",
    );
  });

  it("parses Retry-After and backs off exponentially within bounds", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    const policy = { baseDelayMs: 100, maxDelayMs: 1000 };
    for (let attempt = 1; attempt <= 6; attempt++) {
      const d = backoffDelay(attempt, policy);
      const ceiling = Math.min(1000, 100 * 2 ** (attempt - 1));
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(ceiling);
    }
    expect(backoffDelay(1, policy, 60_000)).toBe(1000);
  });
});

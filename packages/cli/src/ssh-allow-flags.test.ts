import { describe, expect, it } from "vitest";
import { parseAllow, parseSsh } from "./parse-flags.js";

describe("--ssh (buildx syntax)", () => {
  it("takes default, id=socket and id=key,key; a bare id forwards $SSH_AUTH_SOCK", () => {
    expect(
      parseSsh(["default", "deploy=/keys/a,/keys/b", "sock=/run/agent.sock"], {
        SSH_AUTH_SOCK: "/tmp/agent",
      }),
    ).toEqual({
      default: { paths: ["/tmp/agent"] },
      deploy: { paths: ["/keys/a", "/keys/b"] },
      sock: { paths: ["/run/agent.sock"] },
    });
    // Without an agent the path stays empty; the builder reports it when the build starts.
    expect(parseSsh(["default"], {})).toEqual({ default: { paths: [""] } });
    expect(parseSsh(["x="], { SSH_AUTH_SOCK: "/s" })).toEqual({ x: { paths: ["/s"] } });
  });

  it("rejects an empty or duplicate id", () => {
    expect(() => parseSsh(["=/k"], {})).toThrow(/id is empty/);
    expect(() => parseSsh(["default", "default=/k"], {})).toThrow(/duplicate agent ID "default"/);
  });
});

describe("--allow", () => {
  const known = ["security.insecure", "network.host"] as const;
  it("accepts known entitlements, repeated or comma-separated, once each", () => {
    expect(parseAllow(["security.insecure", "network.host,security.insecure"], known)).toEqual([
      "security.insecure",
      "network.host",
    ]);
    expect(parseAllow([], known)).toEqual([]);
  });

  it("rejects an unknown entitlement with the known ones as a hint", () => {
    expect(() => parseAllow(["device"], known)).toThrow(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        hint: "known entitlements: security.insecure, network.host",
      }),
    );
  });
});

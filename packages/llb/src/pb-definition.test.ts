import type { Definition } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { decodeDefinitionMessage, encodeDefinition } from "./pb-definition.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const ascii = (s: string): string => Buffer.from(s).toString("hex");

describe("Definition message", () => {
  it("encodes golden bytes with sorted maps", () => {
    const def: Definition = {
      def: [new Uint8Array([0x0a, 0x00])],
      metadata: { "sha256:x": { caps: { b: true, a: false }, exportCache: false } },
    };
    expect(hex(encodeDefinition(def))).toBe(
      [
        "0a02",
        "0a00", // def[0]
        "121c",
        "0a08",
        ascii("sha256:x"), // metadata entry (28 bytes): key
        "1210", // value: OpMetadata (16 bytes)
        "2200", // export_cache (4): set, Value false omitted
        "2a05",
        "0a0161",
        "1000", // caps entry a = false (value written although zero)
        "2a05",
        "0a0162",
        "1001", // caps entry b = true
      ].join(""),
    );
  });

  it("round-trips metadata and source maps", () => {
    const def: Definition = {
      def: [new Uint8Array([1, 2, 3]), new Uint8Array([])],
      metadata: {
        "sha256:b": {
          ignoreCache: true,
          description: { "llb.customname": "RUN x", z: "" },
          exportCache: true,
          caps: { "exec.meta.base": true },
          progressGroup: { id: "g", name: "group", weak: true },
        },
        "sha256:a": {},
      },
      source: {
        infos: [{ filename: "Dockerfile", data: new Uint8Array([70, 82]), language: "Dockerfile" }],
        locations: {
          "sha256:b": [
            {
              sourceIndex: 0,
              ranges: [{ start: { line: 3, character: 0 }, end: { line: 4, character: 2 } }],
            },
          ],
        },
      },
    };
    const bytes = encodeDefinition(def);
    const back = decodeDefinitionMessage(bytes);
    expect(back).toEqual(def);
    expect(hex(encodeDefinition(back))).toBe(hex(bytes));
  });
});

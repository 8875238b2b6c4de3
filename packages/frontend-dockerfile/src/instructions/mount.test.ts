import { describe, expect, it } from "vitest";
import { parseGoDuration } from "./duration.js";
import { parseMount, ramInBytes, splitCsvRecord } from "./mount.js";

describe("parseMount", () => {
  it("defaults to a read-only bind mount", () => {
    expect(parseMount("target=/src,from=build")).toMatchObject({
      type: "bind",
      target: "/src",
      from: "build",
      readOnly: true,
      required: false,
    });
    expect(parseMount("src=a,dst=/b,rw").readOnly).toBe(false);
    expect(parseMount("source=a,destination=/b,readwrite=true").readOnly).toBe(false);
    expect(parseMount("type=cache,target=/c,ro=1").readOnly).toBe(true);
  });

  it("parses cache, tmpfs, secret and ssh options", () => {
    expect(
      parseMount("type=cache,target=/root/.cache,id=go,sharing=LOCKED,mode=0755,uid=1000,gid=1000"),
    ).toMatchObject({
      type: "cache",
      readOnly: false,
      id: "go",
      sharing: "locked",
      mode: 0o755,
      uid: 1000,
      gid: 1000,
    });
    expect(parseMount("type=tmpfs,target=/t,size=64m")).toMatchObject({
      readOnly: false,
      sizeLimit: 64 * 1024 * 1024,
    });
    expect(parseMount("type=secret,id=tok,env=TOKEN,required")).toMatchObject({
      id: "tok",
      env: "TOKEN",
      required: true,
    });
    expect(parseMount("type=ssh,required=false").required).toBe(false);
  });

  it("expands values with the given function", () => {
    const env: Record<string, string> = { T: "/cache", U: "42" };
    const expand = (v: string) => v.replace(/\$(\w+)/g, (_, k: string) => env[k] ?? "");
    expect(parseMount("type=cache,target=$T,uid=$U", expand)).toMatchObject({ target: "/cache", uid: 42 });
  });

  it.each([
    ["type=volume", 'unsupported mount type "volume"'],
    ["type=cahce", 'unsupported mount type "cahce" (did you mean cache?)'],
    ["type=cache,sharing=shard", 'unsupported sharing value "shard" (did you mean shared?)'],
    ["type=bind,sharing=shared", "invalid cache sharing set for bind mount"],
    ["target=/x,size=1g", "unexpected key 'size' for mount type 'bind'"],
    ["required,type=secret,id=a", "unexpected key 'required' for mount type 'bind'"],
    ["target=/x,trget=/y", "unexpected key 'trget' in 'trget=/y' (did you mean target?)"],
    ["target", "invalid field 'target' must be a key=value pair"],
    ["target=/x,uid=1", 'uid not allowed for "bind" type mounts'],
    ["type=cache,mode=999", "invalid value 999 for mode"],
    ["type=cache,uid=-1", "invalid value -1 for uid"],
    ["type=tmpfs,size=lots", "invalid value for size: lots"],
    ["type=cache,ro=maybe", "invalid value for ro: maybe"],
    ["type=secret", "invalid secret mount. one of source, target required"],
    ["type=secret,id=a,source=b", "both source and id can't be set"],
    ["type=secret,id=a,from=x", "secret mount should not have a from"],
    ['type=cache,"target=/x', 'failed to parse csv mounts: extraneous or missing " in quoted-field'],
    ['type=cache,target="/x"', 'failed to parse csv mounts: bare " in non-quoted-field'],
  ])("%s → %s", (spec, message) => expect(() => parseMount(spec)).toThrow(message));

  it("splits CSV like Go encoding/csv", () => {
    expect(splitCsvRecord('type=bind,"target=/a,b","x="""""')).toEqual(["type=bind", "target=/a,b", 'x=""']);
    expect(splitCsvRecord("")).toEqual([""]);
    expect(() => splitCsvRecord('a="b"')).toThrow(/bare "/);
  });

  it("RAMInBytes uses binary multiples", () => {
    expect(ramInBytes("100")).toBe(100);
    expect(ramInBytes("1k")).toBe(1024);
    expect(ramInBytes("1.5GiB")).toBe(1.5 * 1024 ** 3);
    expect(ramInBytes("2 mb")).toBe(2 * 1024 ** 2);
    expect(ramInBytes("1x")).toBeUndefined();
  });
});

describe("parseGoDuration", () => {
  it.each([
    ["0", 0],
    ["1ns", 1],
    ["1.5s", 1_500_000_000],
    ["1h30m", 5_400_000_000_000],
    ["300ms", 300_000_000],
    ["-1.5h", -5_400_000_000_000],
    ["+2us", 2000],
    ["1µs", 1000],
    ["1μs", 1000],
    [".5m", 30_000_000_000],
    ["1.s", 1_000_000_000],
  ])("%s = %d ns", (input, ns) => expect(parseGoDuration(input)).toBe(ns));

  it.each(["", "1", ".s", "s", "1x", "-", "1.2.3s", "9999999999999999999h"])("rejects %j", (input) => {
    expect(() => parseGoDuration(input)).toThrow(/^time: /);
  });
});

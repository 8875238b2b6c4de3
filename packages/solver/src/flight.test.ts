import { isKilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { deferred, tick } from "./fake-ops.test-helpers.js";
import { createFlightGroup, type FlightHandle } from "./flight.js";

describe("flight group", () => {
  it("runs once for concurrent callers and memoizes the value", async () => {
    const flights = createFlightGroup();
    let runs = 0;
    const work = async () => {
      runs++;
      await tick();
      return runs;
    };
    const signal = new AbortController().signal;
    const [a, b] = await Promise.all([
      flights.run("k", work, { signal }),
      flights.run("k", work, { signal }),
    ]);
    expect([a, b, await flights.run("k", work, { signal })]).toEqual([1, 1, 1]);
    expect(runs).toBe(1);
  });

  it("aborts the work only when the last waiter leaves, then forgets it", async () => {
    const flights = createFlightGroup();
    const seen: AbortSignal[] = [];
    const gate = deferred<string>();
    const work = (signal: AbortSignal) => {
      seen.push(signal);
      return gate.promise;
    };
    const [one, two] = [new AbortController(), new AbortController()];
    const handles: FlightHandle[] = [];
    const first = flights.run("k", work, { signal: one.signal, track: (h) => handles.push(h) });
    const second = flights.run("k", work, { signal: two.signal });

    one.abort();
    await expect(first).rejects.toSatisfy((e) => isKilnError(e, "CANCELED"));
    expect(seen[0]?.aborted).toBe(false);
    two.abort();
    await expect(second).rejects.toSatisfy((e) => isKilnError(e, "CANCELED"));
    expect(seen[0]?.aborted).toBe(true);
    expect(handles[0]?.abandoned).toBe(true);

    const again = flights.run("k", work, { signal: new AbortController().signal });
    expect(seen).toHaveLength(2);
    gate.resolve("done");
    expect(await again).toBe("done");
    await handles[0]?.done;
  });
});

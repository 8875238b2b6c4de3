import { KilnError, type PointerValue, type WritePointerOptions } from "@kiln/core";
import type { ActionsCacheApi } from "./api.js";
import { indexKey, type TokenScopes } from "./keys.js";
import { cancellableSleep } from "./limiter.js";
import { type Call, send, statusError, type Transport } from "./transport.js";

export interface PointerTiming {
  readonly lockTimeoutMs: number;
  readonly pollMs: number;
}

/** How many occupied slots a writer skips before giving up (BuildKit skips without bound). */
const MAX_SLOT_SKIPS = 32;

/**
 * Pointers over immutable entries, as BuildKit's SaveMutable stores its index: version n of pointer
 * `name` is the entry `index-<name>-1-<ref hash>#<n>`; the newest n is found with one prefix lookup.
 * Writing reserves n+1, and the service's 409 on an existing key is the compare-and-swap. Reads also
 * fall back to the token's read-only refs (a pull request sees its base branch's index); such a
 * version counts as "not written in this ref yet" for CAS.
 */
export function createPointers(
  t: Transport,
  api: ActionsCacheApi,
  scopes: TokenScopes,
  timing: PointerTiming,
  upload: (key: string, data: Uint8Array, call: Call) => Promise<boolean>,
) {
  const ownKey = (name: string) => indexKey(name, scopes.write);

  function checkName(name: string) {
    if (name === "" || /[#,]/.test(name)) {
      throw new KilnError("INVALID_ARGUMENT", `gha cache: invalid pointer name "${name}"`, {
        hint: "names must be non-empty and contain neither '#' nor ','",
      });
    }
  }

  /** The newest own version number, or undefined when this ref has none. */
  async function newestOwn(name: string, call: Call): Promise<number | undefined> {
    const found = await api.lookup([`${ownKey(name)}#`], call);
    return found ? slotOf(found.key, ownKey(name)) : undefined;
  }

  async function read(name: string, call: Call): Promise<PointerValue | undefined> {
    checkName(name);
    const own = ownKey(name);
    const others = scopes.readOnly.map((ref) => indexKey(name, ref));
    // One request searches this ref's index and then the read-only refs' ones (restore keys).
    const found = await api.lookup([`${own}#`, ...others.map((k) => `${k}#`)], call);
    if (!found) return undefined;
    const ownSlot = slotOf(found.key, own);
    const version = ownSlot !== undefined ? String(ownSlot) : `base:${found.key}`;
    if (ownSlot === undefined && !others.some((k) => slotOf(found.key, k) !== undefined)) return undefined;
    const res = await send(
      t,
      { method: "GET", url: found.url, service: false },
      call,
      `reading pointer ${name}`,
    );
    if (res.status !== 200) throw await statusError(res, `reading pointer ${name}`, found.url);
    return { data: new Uint8Array(await res.body.arrayBuffer()), version };
  }

  async function write(name: string, data: Uint8Array, o: WritePointerOptions, call: Call): Promise<boolean> {
    checkName(name);
    const own = ownKey(name);
    const conditional = o.expected !== undefined;
    // A version read from another ref means this ref has no pointer yet, exactly like `null`.
    const expected =
      typeof o.expected === "string" && /^\d+$/.test(o.expected) ? Number(o.expected) : undefined;
    let slot = (conditional ? expected : await newestOwn(name, call)) ?? 0;
    let blockedSince: number | undefined;
    for (let skips = 0; skips <= MAX_SLOT_SKIPS; ) {
      if (await upload(`${own}#${slot + 1}`, data, call)) return true;
      // Slot taken. Unconditional writes just move on; CAS writers look at what happened.
      if (!conditional) {
        slot++;
        skips++;
        continue;
      }
      if ((await newestOwn(name, call)) !== expected) return false;
      // The newest is still what we expected: the slot belongs to a writer that has not finished.
      // Give it BuildKit's grace period, then treat it as crashed and take the next slot.
      blockedSince ??= Date.now();
      if (Date.now() - blockedSince >= timing.lockTimeoutMs) {
        slot++;
        skips++;
        continue;
      }
      await cancellableSleep(Math.min(timing.pollMs, Math.max(0, call.deadline - Date.now())), call.signal);
    }
    throw new KilnError("UNAVAILABLE", `gha cache: could not find a free slot for pointer ${name}`);
  }

  return { read, write };
}

/** `n` of `<prefix>#<n>`, or undefined when `key` is not a version of `prefix`. */
function slotOf(key: string, prefix: string): number | undefined {
  const m = /^(.*)#(\d+)$/.exec(key);
  return m && m[1] === prefix ? Number(m[2]) : undefined;
}

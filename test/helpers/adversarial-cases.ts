// Case runner of the adversarial harness (test/adversarial-*.test.ts): one
// HostilePeer (one device boot) is shared by the cases of a file while they
// pass; a case that fails (or a todo case) leaves it dirty and the next case
// boots a fresh one, so one defect cannot hide or fake the next case's result.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HostilePeer, type Interceptor, type ServerDatagram } from "./hostile-peer";
import { requirePeer } from "./peers";

let current: HostilePeer | null = null;
let dirty = true;
let factory: () => Promise<HostilePeer> = () => HostilePeer.create();
/** How the file's peer is made (default: PSK). */
export function usePeerFactory(f: () => Promise<HostilePeer>) { factory = f; dirty = true; }

export async function sharedPeer(): Promise<HostilePeer> {
  if (!current || dirty) {
    const p = (current = await factory());
    assert.ok(p.run(15 * 60_000, () => p.registrations > 0 && p.established), "the device registers with the honest peer first");
  }
  dirty = true;
  return current;
}
export function casePassed() { dirty = false; }

/** Counts how often an interceptor changed something (a case whose hostile input never went out must fail). */
export class Hits {
  n = 0;
  /** Apply `f` to the datagrams matching `pred`; the first `times` of them (default: all). */
  on(pred: (d: ServerDatagram) => boolean, f: (d: ServerDatagram) => Uint8Array[], times = Infinity): Interceptor {
    let left = times;
    return (d) => {
      if (left > 0 && pred(d)) { left--; this.n++; return f(d); }
      return [d.data];
    };
  }
}

export const isHvr = (d: ServerDatagram) => d.types[0] === 3;
export const isServerHelloFlight = (d: ServerDatagram) => d.types.includes(2);
/** The server's ChangeCipherSpec + Finished flight (CCS appears as -20). */
export const isFinishedFlight = (d: ServerDatagram) => d.types.includes(-20);

/** What the device does with the hostile input. */
export type Expect =
  /** The handshake fails with this DtlsError; `alert`: the alert the device sends (null: none); `received`: the alert it logged. */
  | { fail: number; alert?: number | null; received?: number }
  /** The input is dropped: the same handshake completes (after retransmissions if need be), nothing fails. */
  | { completes: true };

export interface DtlsCase {
  name: string;
  toDevice?: (h: Hits) => Interceptor;
  toServer?: (h: Hits) => (d: Uint8Array, index: number) => Uint8Array[];
  expect: Expect;
  /** Extra check after the hostile phase. */
  check?: (p: HostilePeer, from: { logs: number; alerts: number; sent: number }) => void;
  todo?: string;
  /** Virtual time the hostile phase may take (default 10 min). */
  ms?: number;
  /** No Hits needed (e.g. a case that only injects). */
  noHits?: boolean;
  /** Before the hostile phase (e.g. the server's certificates); undone by `after`. */
  before?: (p: HostilePeer) => void;
  after?: (p: HostilePeer) => void;
  /** A peer program the case needs (requirePeer: skipped loudly, fails in CI). */
  needs?: string;
}

export function dtlsCase(c: DtlsCase) {
  test(c.name, c.todo ? { todo: c.todo } : {}, async (t) => {
    if (c.needs && !requirePeer(t, c.needs)) return;
    const p = await sharedPeer();
    c.before?.(p);
    const hits = new Hits();
    const from = { logs: p.device.logs.length, alerts: p.deviceAlerts.length, sent: p.deviceSent.length };
    const h0 = p.countHandshakes();
    from.logs = p.restartSession(c.toDevice?.(hits) ?? null, c.toServer?.(hits) ?? null);
    p.run(c.ms ?? 10 * 60_000, () => p.handshakeFailures(from.logs).length > 0 || p.countHandshakes() > h0);
    if (!c.noHits) assert.ok(hits.n > 0, "the hostile input went out");
    const failures = p.handshakeFailures(from.logs);
    const sent = p.deviceAlerts.slice(from.alerts);
    const e = c.expect;
    if ("fail" in e) {
      assert.ok(failures.length > 0, `the handshake is refused (logs: ${p.logsSince(from.logs).map((l) => l.text).join(" | ")})`);
      assert.equal(failures[0].reason, e.fail, failures[0].text);
      if (e.alert !== undefined) assert.deepEqual(sent.map((a) => a.desc).filter((a) => a !== 0).slice(0, 1), e.alert === null ? [] : [e.alert], `alert sent: ${JSON.stringify(sent)}`);
      if (e.received !== undefined) assert.equal(failures[0].alert, e.received, failures[0].text);
      assert.equal(p.countHandshakes(), h0, "no session came up");
    } else {
      assert.deepEqual(failures.map((f) => f.text), [], "nothing failed");
      assert.equal(p.countHandshakes(), h0 + 1, "the handshake completed");
      assert.deepEqual(sent.filter((a) => a.desc !== 0), [], "no alert");
    }
    c.check?.(p, from);
    c.after?.(p);
    p.recover();
    casePassed();
  });
}

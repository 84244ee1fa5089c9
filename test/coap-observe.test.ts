// Observe, server side (RFC 7641), with a fake clock: registration,
// 24-bit increasing sequence numbers, NON notifications with a CON at least
// every 24 h (or always CON), deregistration by Observe=1, by RST and by an
// unacknowledged CON, re-registration replacing the entry, replacement of an
// outstanding CON notification (§4.5.2), non-2.xx ending the observation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoapModule, T, C, O, Ev, Err, encode, decode, ascii, text, uriPath, uintBytes, optUint, opt, Msg } from "./helpers/coap-harness";

const DAY = 24 * 3600 * 1000;

function server(alwaysCon = 0, interval = DAY) {
  const m = new CoapModule(41);
  assert.equal(m.epInit(), 0);
  m.ex.obsSetup(alwaysCon, BigInt(interval));
  return m;
}

let midSeq = 0x100;
/** GET with Observe (0 register / 1 deregister) from the peer; returns the index and our response. */
function observe(m: CoapModule, path: string, token: string, value: number, now: number): { idx: number; resp: Msg } {
  m.feed(encode({ type: T.CON, code: C.GET, mid: midSeq++, token: ascii(token), options: [[O.OBSERVE, uintBytes(value)], ...uriPath(path)] }), now);
  assert.deepEqual(m.drainEvents().map((e) => e.kind), [Ev.Request]);
  m.ex.selectRx();
  assert.equal(m.ex.msgObserve(), value);
  const idx = value === 0 ? m.ex.obsReg(11542, BigInt(now)) : m.ex.obsDereg();
  const options: [number, Uint8Array][] = [[O.CONTENT_FORMAT, uintBytes(11542)]];
  if (value === 0 && idx >= 0) options.unshift([O.OBSERVE, uintBytes(m.ex.obsSeq(idx))]);
  assert.equal(m.respond(C.CONTENT, options, ascii("v"), now), 0);
  return { idx, resp: decode(m.drainTx()[0]) };
}

/** A notification of entry idx; returns the message sent and the slot (or error). */
function notify(m: CoapModule, idx: number, now: number, code: number = C.CONTENT, payload = "n"): { msg: Msg | null; slot: number } {
  const e = m.ex.obsNotifyBegin(idx, code, BigInt(now));
  if (e < 0) return { msg: null, slot: e };
  m.ex.wUint(O.CONTENT_FORMAT, 0);
  m.put(ascii(payload), 0x3100);
  m.ex.wPayload(m.s + 0x3100, payload.length);
  const slot = m.ex.epSend(BigInt(now));
  const tx = m.drainTx();
  return { msg: tx.length ? decode(tx[tx.length - 1]) : null, slot };
}

/** Feeds endpoint events to the observe table, returns ended indexes. */
function events(m: CoapModule, now: number) {
  return m.drainEvents().map((e) => ({ ...e, ended: m.ex.obsEvent(e.kind, e.slot, e.mid, BigInt(now)) }));
}

test("registration answers with an Observe number; NON notifications carry the token and strictly increasing 24-bit sequence numbers", () => {
  const m = server();
  const { idx, resp } = observe(m, "3/0/13", "obs1", 0, 0);
  assert.equal(idx, 0);
  assert.equal(resp.type, T.ACK);
  const first = optUint(resp, O.OBSERVE);
  assert.ok(first >= 0);
  let last = first;
  for (let i = 1; i <= 5; i++) {
    const { msg } = notify(m, idx, i * 1000, C.CONTENT, `t=${i}`);
    assert.equal(msg!.type, T.NON);
    assert.equal(text(msg!.token), "obs1");
    assert.equal(msg!.code, C.CONTENT);
    const seq = optUint(msg!, O.OBSERVE);
    assert.ok(seq > last, "increasing");
    assert.ok(opt(msg!, O.OBSERVE)[0].length <= 3, "at most 3 bytes");
    last = seq;
    assert.equal(text(msg!.payload), `t=${i}`);
  }
  // the counter is 24 bits and wraps (§4.4 compares them modulo 2^24)
  assert.equal(m.ex.obsSeqAdvance(idx, 0xffffff - last), 0xffffff);
  assert.equal(optUint(notify(m, idx, 9000).msg!, O.OBSERVE), 0);
  assert.equal(optUint(notify(m, idx, 9001).msg!, O.OBSERVE), 1);
});

test("CON at least every 24 h (§4.5): NON until a day has passed since the last confirmation, then CON; its ACK restarts the day; alwaysCon makes every one CON", () => {
  const m = server();
  const { idx } = observe(m, "3/0/13", "o", 0, 0);
  assert.equal(notify(m, idx, DAY - 1).msg!.type, T.NON);
  const { msg, slot } = notify(m, idx, DAY);
  assert.equal(msg!.type, T.CON);
  assert.ok(slot >= 1);
  m.feed(encode({ type: T.ACK, code: 0, mid: msg!.mid }), DAY + 50);
  assert.deepEqual(events(m, DAY + 50).map((e) => [e.kind, e.ended]), [[Ev.Acked, -1]]);
  assert.equal(notify(m, idx, DAY + 60).msg!.type, T.NON, "confirmed: NON again");
  assert.equal(notify(m, idx, 2 * DAY + 49).msg!.type, T.NON);
  assert.equal(notify(m, idx, 2 * DAY + 50).msg!.type, T.CON);

  const c = server(1);
  const o = observe(c, "3/0/13", "c", 0, 0);
  for (let i = 1; i <= 3; i++) {
    const n = notify(c, o.idx, i * 10);
    assert.equal(n.msg!.type, T.CON);
    c.feed(encode({ type: T.ACK, code: 0, mid: n.msg!.mid }), i * 10 + 1);
    events(c, i * 10 + 1);
  }
});

test("deregistration: GET with Observe=1 and the same token; a RST to a NON or a CON notification; a CON notification that is never acknowledged", () => {
  const m = server();
  const a = observe(m, "3/0/13", "A", 0, 0);
  const d = observe(m, "3/0/13", "A", 1, 10);
  assert.equal(d.idx, a.idx);
  assert.equal(opt(d.resp, O.OBSERVE).length, 0, "answered as a plain GET");
  assert.equal(m.ex.obsIsActive(a.idx), 0);
  assert.equal(notify(m, a.idx, 20).slot, Err.NoRequest);

  const b = observe(m, "1/0/1", "B", 0, 0);
  const n = notify(m, b.idx, 100).msg!;
  m.feed(encode({ type: T.RST, code: 0, mid: n.mid }), 110);
  assert.deepEqual(events(m, 110).map((e) => [e.kind, e.slot, e.ended]), [[Ev.Reset, -1, b.idx]]);
  assert.equal(m.ex.obsIsActive(b.idx), 0);

  const c = server(1);
  const o = observe(c, "1/0/1", "C", 0, 0);
  const cn = notify(c, o.idx, 100);
  c.feed(encode({ type: T.RST, code: 0, mid: cn.msg!.mid }), 120);
  assert.deepEqual(events(c, 120).map((e) => [e.kind, e.slot, e.ended]), [[Ev.Reset, cn.slot, o.idx]]);

  const o2 = observe(c, "1/0/1", "D", 0, 200);
  const dn = notify(c, o2.idx, 300);
  let ended: number[] = [];
  while (c.deadline() >= 0) {
    const t = c.deadline();
    c.timeout(t);
    c.drainTx();
    ended = ended.concat(events(c, t).filter((e) => e.kind === Ev.Timeout).map((e) => e.ended));
  }
  assert.deepEqual(ended, [o2.idx]);
  assert.equal(c.ex.obsIsActive(o2.idx), 0);
  assert.ok(dn.slot >= 1);
});

test("re-registration: the same token replaces the entry (and keeps counting); the same target from the client replaces it too; the table has a size", () => {
  const m = server();
  const a = observe(m, "3/0/13", "T1", 0, 0);
  const s1 = optUint(a.resp, O.OBSERVE);
  const b = observe(m, "3/0/14", "T1", 0, 10);
  assert.equal(b.idx, a.idx, "same token: replaced");
  assert.ok(optUint(b.resp, O.OBSERVE) > s1, "sequence continues");
  const c = observe(m, "3/0/14", "T2", 0, 20);
  assert.equal(c.idx, a.idx, "same target: replaced with the new token");
  const n = notify(m, c.idx, 30).msg!;
  assert.equal(text(n.token), "T2");
  const others = [observe(m, "1", "x1", 0, 0).idx, observe(m, "2", "x2", 0, 0).idx, observe(m, "4", "x3", 0, 0).idx];
  assert.deepEqual(others, [1, 2, 3]);
  assert.equal(observe(m, "5", "x4", 0, 0).idx, Err.ObserveFull);
  assert.equal(observe(m, "a/very/long/path/beyond/the/limit", "x5", 0, 0).idx, Err.PathTooLong);
});

test("a new notification while a CON one is outstanding replaces it: same slot, new MID, the retransmission counter and timer go on (§4.5.2)", () => {
  const m = server(1);
  const { idx } = observe(m, "3/0/13", "R", 0, 0);
  const first = notify(m, idx, 0, C.CONTENT, "v1");
  const d1 = m.deadline();
  m.timeout(d1); // one retransmission of v1
  assert.equal(text(decode(m.drainTx()[0]).payload), "v1");
  const d2 = m.deadline();
  const second = notify(m, idx, d1 + 10, C.CONTENT, "v2");
  assert.equal(second.slot, first.slot, "the same slot");
  assert.notEqual(second.msg!.mid, first.msg!.mid);
  assert.equal(second.msg!.type, T.CON);
  assert.equal(m.deadline(), d2, "timer unchanged");
  m.timeout(d2);
  const re = decode(m.drainTx()[0]);
  assert.equal(text(re.payload), "v2", "the retransmission carries the new state");
  assert.equal(re.mid, second.msg!.mid);
  m.feed(encode({ type: T.ACK, code: 0, mid: first.msg!.mid }), d2 + 1);
  assert.deepEqual(events(m, d2 + 1), [], "an ACK of the superseded MID is ignored");
  m.feed(encode({ type: T.ACK, code: 0, mid: second.msg!.mid }), d2 + 2);
  assert.deepEqual(events(m, d2 + 2).map((e) => e.kind), [Ev.Acked]);
  assert.equal(m.deadline(), -1);
  assert.equal(m.ex.obsIsActive(idx), 1);
});

test("a non-2.xx notification ends the observation and carries no Observe option (§4.2)", () => {
  const m = server();
  const { idx } = observe(m, "3/0/13", "E", 0, 0);
  const { msg } = notify(m, idx, 10, C.NOT_FOUND, "gone");
  assert.equal(msg!.code, C.NOT_FOUND);
  assert.equal(opt(msg!, O.OBSERVE).length, 0);
  assert.equal(text(msg!.token), "E");
  assert.equal(m.ex.obsIsActive(idx), 0);
});

// The CoAP transaction layer with a fake clock and a scripted peer:
// retransmission timing against the exact RFC 7252 §4.2/§4.8.2 bounds,
// message IDs and tokens, NSTART, deduplication over EXCHANGE_LIFETIME /
// NON_LIFETIME with the cached response, separate responses, RST handling,
// unknown critical options, server-side CON messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { hex } from "./helpers/wasm";
import { CoapModule, T, C, O, Ev, Err, encode, decode, ascii, text, uriPath, uintBytes } from "./helpers/coap-harness";

// RFC 7252 §4.8 / §4.8.2 defaults
const ACK_TIMEOUT = 2000, MAX_TRANSMIT_SPAN = 45000, MAX_TRANSMIT_WAIT = 93000;
const EXCHANGE_LIFETIME = 247000, NON_LIFETIME = 145000;

function client(seed = 1) {
  const m = new CoapModule(seed);
  assert.equal(m.epInit(), 0);
  return m;
}
const ack = (mid: number, code = 0, token: Uint8Array = new Uint8Array(0), payload: Uint8Array = new Uint8Array(0)) => encode({ type: T.ACK, code, mid, token, payload });
const get = (mid: number, token = ascii("t1"), type: number = T.CON, options = uriPath("3/0")) => encode({ type, code: C.GET, mid, token, options });

/** Runs a CON request to a peer that drops everything; returns send times and the give-up time. */
function dropAll(m: CoapModule) {
  assert.equal(m.request(T.CON, C.GET, uriPath("x"), null, 0), 0);
  const first = m.drainTx();
  assert.equal(first.length, 1);
  const sends = [0];
  let gaveUp = -1;
  for (let guard = 0; guard < 20 && gaveUp < 0; guard++) {
    const d = m.deadline();
    assert.ok(d > 0);
    m.timeout(d - 1);
    assert.deepEqual(m.drainTx(), [], "nothing before the deadline");
    m.timeout(d);
    const tx = m.drainTx();
    for (const b of tx) { assert.equal(hex(b), hex(first[0]), "a retransmission is byte-identical"); sends.push(d); }
    for (const e of m.drainEvents()) { assert.equal(e.kind, Ev.Timeout); assert.equal(e.slot, 0); gaveUp = d; }
  }
  assert.equal(m.deadline(), -1);
  return { sends, gaveUp };
}

test("CON retransmission (§4.2, §4.8.2): initial timeout random in [ACK_TIMEOUT, ACK_TIMEOUT*1.5], doubling, MAX_RETRANSMIT 4, exact bounds over 200 seeds", () => {
  let minT = Infinity, maxT = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const { sends, gaveUp } = dropAll(client(seed));
    assert.equal(sends.length, 5, "1 transmission + MAX_RETRANSMIT retransmissions");
    const t = sends[1];
    assert.ok(t >= ACK_TIMEOUT && t <= ACK_TIMEOUT * 1.5, `initial timeout ${t}`);
    assert.deepEqual(sends, [0, t, 3 * t, 7 * t, 15 * t], "exponential back-off");
    assert.equal(gaveUp, 31 * t);
    assert.ok(sends[4] <= MAX_TRANSMIT_SPAN, "last retransmission within MAX_TRANSMIT_SPAN");
    assert.ok(gaveUp <= MAX_TRANSMIT_WAIT && gaveUp >= 62000, "gives up within MAX_TRANSMIT_WAIT");
    minT = Math.min(minT, t);
    maxT = Math.max(maxT, t);
  }
  assert.ok(minT < 2050 && maxT > 2950, `the random factor is used (${minT}..${maxT})`);
});

test("a scripted peer drops the first N datagrams, then acknowledges: N+1 transmissions for N <= 4; N = 5 times out", () => {
  for (let n = 0; n <= 5; n++) {
    const m = client(n + 10);
    assert.equal(m.request(T.CON, C.PUT, uriPath("1/0/1"), ascii("300"), 0), 0);
    let tx = m.drainTx();
    let sent = tx.length, now = 0, done = false, timedOut = false;
    const mid = decode(tx[0]).mid, token = decode(tx[0]).token;
    for (let i = 0; i < 10 && !done && !timedOut; i++) {
      if (sent > n) { // delivered: the peer answers with a piggybacked 2.04
        m.feed(ack(mid, C.CHANGED, token), now);
        const ev = m.drainEvents();
        assert.deepEqual(ev.map((e) => e.kind), [Ev.Response]);
        done = true;
        break;
      }
      now = m.deadline();
      m.timeout(now);
      tx = m.drainTx();
      sent += tx.length;
      if (m.drainEvents().some((e) => e.kind === Ev.Timeout)) timedOut = true;
    }
    if (n <= 4) { assert.ok(done, `N=${n}`); assert.equal(sent, n + 1); }
    else { assert.ok(timedOut, "N=5: MAX_RETRANSMIT exceeded"); assert.equal(sent, 5); }
    assert.equal(m.deadline(), -1);
  }
});

test("transmission parameters are configurable; derived lifetimes follow §4.8.2", () => {
  const m = client();
  assert.equal(m.ex.epExchangeLifetime(), EXCHANGE_LIFETIME);
  assert.equal(m.ex.epNonLifetime(), NON_LIFETIME);
  assert.equal(m.ex.epResponseTimeout(), MAX_TRANSMIT_WAIT);
  m.ex.epSetTransmission(1000, 2000, 2);
  const span = 1000 * 2 * 3; // ACK_TIMEOUT * RANDOM_FACTOR * (2^2 - 1)
  assert.equal(m.ex.epExchangeLifetime(), span + 200000 + 1000);
  assert.equal(m.ex.epNonLifetime(), span + 100000);
  assert.equal(m.ex.epResponseTimeout(), 1000 * 2 * 7);
  const { sends, gaveUp } = dropAll(m);
  const t = sends[1];
  assert.ok(t >= 1000 && t <= 2000);
  assert.deepEqual(sends, [0, t, 3 * t]);
  assert.equal(gaveUp, 7 * t);
});

test("message IDs start random and increment; tokens come from rng_fill and differ; NSTART = 1; an unhealthy DRBG sends nothing", () => {
  const mids = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) {
    const m = client(seed);
    m.request(T.NON, C.GET, [], null, 0);
    mids.add(decode(m.drainTx()[0]).mid);
  }
  assert.ok(mids.size >= 19, "random first message ID (§4.4)");
  const m = client(5);
  m.ex.epSetTokenLen(8);
  const seen: { mid: number; token: string }[] = [];
  for (let i = 0; i < 5; i++) {
    const calls = m.rngCalls;
    assert.equal(m.request(T.CON, C.GET, [], null, 0), 0);
    assert.ok(m.rngCalls > calls, "the token comes from rng_fill");
    assert.equal(m.request(T.CON, C.GET, [], null, 0), Err.Busy, "NSTART = 1");
    const d = decode(m.drainTx()[0]);
    seen.push({ mid: d.mid, token: hex(d.token) });
    assert.equal(d.token.length, 8);
    m.feed(ack(d.mid, C.CONTENT, d.token), 0);
    assert.equal(m.drainEvents()[0].kind, Ev.Response);
  }
  for (let i = 1; i < 5; i++) assert.equal(seen[i].mid, (seen[0].mid + i) & 0xffff);
  assert.equal(new Set(seen.map((s) => s.token)).size, 5);
  m.rngFail = true;
  assert.equal(m.request(T.CON, C.GET, [], null, 0), Err.Rng);
  assert.deepEqual(m.drainTx(), []);
  const fresh = new CoapModule(1);
  fresh.rngFail = true;
  assert.equal(fresh.epInit(), Err.Rng);
});

test("dedup (§4.5): a duplicate CON request gets the cached response byte-identical, once per duplicate, without a second event, for EXCHANGE_LIFETIME", () => {
  const m = client();
  const req = get(0x1111);
  m.feed(req, 1000);
  assert.deepEqual(m.drainEvents().map((e) => e.kind), [Ev.Request]);
  assert.equal(m.respond(C.CONTENT, [[O.CONTENT_FORMAT, uintBytes(0)]], ascii("42"), 1000), 0);
  const resp = m.drainTx();
  assert.equal(resp.length, 1);
  const d = decode(resp[0]);
  assert.equal(d.type, T.ACK);
  assert.equal(d.mid, 0x1111);
  for (const at of [1500, 30000, 1000 + EXCHANGE_LIFETIME - 1]) {
    m.feed(req, at);
    assert.deepEqual(m.drainEvents(), [], "no second request event");
    assert.deepEqual(m.drainTx().map(hex), [hex(resp[0])]);
  }
  m.feed(req, 1000 + EXCHANGE_LIFETIME);
  assert.deepEqual(m.drainEvents().map((e) => e.kind), [Ev.Request], "after EXCHANGE_LIFETIME the MID is new");
  assert.deepEqual(m.drainTx(), []);
});

test("dedup: NON requests over NON_LIFETIME; a duplicate of an unanswered CON is silent; after acceptSeparate the duplicate gets the empty ACK again", () => {
  const m = client();
  const non = get(0x2222, ascii("n"), T.NON);
  m.feed(non, 0);
  assert.equal(m.drainEvents().length, 1);
  m.feed(non, NON_LIFETIME - 1);
  assert.equal(m.drainEvents().length, 0);
  assert.deepEqual(m.drainTx(), []);
  m.feed(non, NON_LIFETIME);
  assert.equal(m.drainEvents().length, 1);

  const unanswered = get(0x3330, ascii("u"));
  m.feed(unanswered, 0);
  assert.equal(m.drainEvents().length, 1); // the application does not answer (yet)
  m.feed(unanswered, 10);
  assert.deepEqual(m.drainTx(), [], "a duplicate of a request still being processed: nothing to repeat");
  assert.deepEqual(m.drainEvents(), []);

  const con = get(0x3333, ascii("s"));
  m.feed(con, 0);
  assert.equal(m.drainEvents().length, 1);
  assert.equal(m.ex.epAcceptSeparate(), 0);
  const emptyAck = hex(ack(0x3333));
  assert.deepEqual(m.drainTx().map(hex), [emptyAck]);
  m.feed(con, 20);
  assert.deepEqual(m.drainTx().map(hex), [emptyAck]);
  assert.equal(m.drainEvents().length, 0);
  // the separate response: CON from a server slot, retransmitted until ACKed
  m.put(ascii("s"), 0x3000);
  assert.equal(m.ex.epBeginSeparate(T.CON, C.CONTENT, m.s + 0x3000, 1, -1), 0);
  const slot = m.ex.epSend(30n);
  assert.ok(slot >= 1);
  const sep = decode(m.drainTx()[0]);
  assert.equal(sep.type, T.CON);
  assert.equal(text(sep.token), "s");
  const d = m.deadline();
  m.timeout(d);
  assert.equal(decode(m.drainTx()[0]).mid, sep.mid, "retransmitted");
  m.feed(ack(sep.mid), d + 5);
  assert.deepEqual(m.drainEvents(), [{ kind: Ev.Acked, slot, mid: sep.mid }]);
  assert.equal(m.deadline(), -1);
});

test("dedup table is fixed-size: the entry closest to expiry is forgotten first", () => {
  const m = client();
  for (let i = 0; i < 9; i++) {
    m.feed(get(0x100 + i, ascii("d")), i * 1000);
    assert.equal(m.drainEvents().length, 1);
    m.respond(C.CONTENT, [], null, i * 1000);
    m.drainTx();
  }
  m.feed(get(0x100), 9000);
  assert.equal(m.drainEvents().length, 1, "the oldest entry was evicted");
  m.feed(get(0x105), 9000);
  assert.equal(m.drainEvents().length, 0, "a recent one is still known");
  assert.equal(m.drainTx().length, 0, "its response is no longer cached (the last answer and the two small ones before it are)");
  m.feed(get(0x107), 9000);
  assert.equal(m.drainEvents().length, 0);
  assert.equal(m.drainTx().length, 1, "an earlier small answer is re-sent from the history (issue 7 defect 1)");
  m.feed(get(0x108), 9000);
  assert.equal(m.drainEvents().length, 0);
  assert.equal(m.drainTx().length, 1, "the last answer is re-sent");
});

test("separate response (§5.2.2): empty ACK stops retransmission, the CON response is ACKed and delivered once; duplicates re-ACKed; wait times out", () => {
  const m = client();
  m.request(T.CON, C.GET, uriPath("sep"), null, 0);
  const req = decode(m.drainTx()[0]);
  m.feed(ack(req.mid), 100);
  assert.equal(m.deadline(), 100 + MAX_TRANSMIT_WAIT, "waiting for the response, no retransmission");
  const resp = encode({ type: T.CON, code: C.CONTENT, mid: 0x4444, token: req.token, payload: ascii("late") });
  m.feed(resp, 500);
  assert.deepEqual(m.drainTx().map(hex), [hex(ack(0x4444))]);
  assert.deepEqual(m.drainEvents().map((e) => [e.kind, e.slot]), [[Ev.Response, 0]]);
  m.feed(resp, 600);
  assert.deepEqual(m.drainTx().map(hex), [hex(ack(0x4444))], "duplicate re-ACKed");
  assert.deepEqual(m.drainEvents(), [], "and not delivered again");
  m.feed(ack(req.mid), 700); // a late ACK is ignored
  assert.deepEqual(m.drainTx(), []);
  assert.deepEqual(m.drainEvents(), []);

  // response before the empty ACK; then the ACK is ignored
  m.request(T.CON, C.GET, [], null, 1000);
  const r2 = decode(m.drainTx()[0]);
  m.feed(encode({ type: T.NON, code: C.CONTENT, mid: 0x4445, token: r2.token }), 1100);
  assert.equal(m.drainEvents()[0].kind, Ev.Response);
  assert.deepEqual(m.drainTx(), [], "a NON response is not acknowledged");
  assert.equal(m.deadline(), -1, "retransmission stopped");

  // empty ACK and then nothing: Timeout after MAX_TRANSMIT_WAIT
  m.request(T.CON, C.GET, [], null, 2000);
  const r3 = decode(m.drainTx()[0]);
  m.feed(ack(r3.mid), 2100);
  m.timeout(2100 + MAX_TRANSMIT_WAIT - 1);
  assert.deepEqual(m.drainEvents(), []);
  m.timeout(2100 + MAX_TRANSMIT_WAIT);
  assert.deepEqual(m.drainEvents().map((e) => e.kind), [Ev.Timeout]);

  // a NON request waits MAX_TRANSMIT_WAIT for its response
  m.request(T.NON, C.GET, [], null, 0);
  m.drainTx();
  assert.equal(m.deadline(), MAX_TRANSMIT_WAIT);
});

test("RST: ends our CON with a Reset event; an unmatched RST is reported with slot -1; an unexpected CON response is RST (fig. 21); a token mismatch in the ACK is ignored", () => {
  const m = client();
  m.request(T.CON, C.GET, [], null, 0);
  const req = decode(m.drainTx()[0]);
  m.feed(ack(req.mid, C.CONTENT, ascii("wrong")), 10);
  assert.deepEqual(m.drainEvents(), [], "token mismatch: ignored");
  assert.ok(m.deadline() > 0, "still retransmitting");
  m.feed(encode({ type: T.RST, code: 0, mid: req.mid }), 20);
  assert.deepEqual(m.drainEvents(), [{ kind: Ev.Reset, slot: 0, mid: req.mid }]);
  assert.equal(m.deadline(), -1);
  m.feed(encode({ type: T.RST, code: 0, mid: 0x7777 }), 30);
  assert.deepEqual(m.drainEvents(), [{ kind: Ev.Reset, slot: -1, mid: 0x7777 }]);
  m.feed(encode({ type: T.RST, code: C.CONTENT, mid: 0x7778 }), 30);
  assert.deepEqual(m.drainEvents(), [], "a non-empty RST is ignored");
  m.feed(encode({ type: T.CON, code: C.CONTENT, mid: 0x5555, token: ascii("zz") }), 40);
  assert.deepEqual(m.drainTx().map(hex), [hex(encode({ type: T.RST, code: 0, mid: 0x5555 }))]);
  m.feed(encode({ type: T.NON, code: C.CONTENT, mid: 0x5556, token: ascii("zz") }), 40);
  assert.deepEqual(m.drainTx(), [], "an unexpected NON response is dropped");
  m.feed(encode({ type: T.CON, code: 0, mid: 0x5557 }), 50);
  assert.deepEqual(m.drainTx().map(hex), [hex(encode({ type: T.RST, code: 0, mid: 0x5557 }))], "CoAP ping -> RST");
  m.feed(encode({ type: T.NON, code: 0, mid: 0x5558 }), 50);
  assert.deepEqual(m.drainTx(), [], "an Empty NON is ignored");
  assert.deepEqual(m.drainEvents(), []);
});

test("unrecognized critical options (§5.4.1): 4.02 for a CON request, NON request rejected, CON response RST, piggybacked response ignored; Proxy-Uri -> 5.05", () => {
  const m = client();
  const bad: [number, Uint8Array][] = [...uriPath("3/0"), [2049, ascii("x")]];
  m.feed(encode({ type: T.CON, code: C.GET, mid: 0x10, token: ascii("tk"), options: bad }), 0);
  assert.deepEqual(m.drainEvents(), []);
  const r = decode(m.drainTx()[0]);
  assert.deepEqual([r.type, r.code, r.mid, text(r.token)], [T.ACK, C.BAD_OPTION, 0x10, "tk"]);
  m.feed(encode({ type: T.NON, code: C.GET, mid: 0x11, options: bad }), 0);
  assert.deepEqual(m.drainTx(), []);
  assert.deepEqual(m.drainEvents(), []);
  m.feed(encode({ type: T.CON, code: C.GET, mid: 0x12, token: ascii("p"), options: [[O.PROXY_URI, ascii("coap://h/x")]] }), 0);
  assert.equal(decode(m.drainTx()[0]).code, C.PROXYING_NOT_SUPPORTED);
  m.feed(encode({ type: T.CON, code: C.GET, mid: 0x13, options: [...uriPath("a"), [2048, ascii("e")]] }), 0);
  assert.deepEqual(m.drainEvents().map((e) => e.kind), [Ev.Request], "elective unknown: ignored");
  m.drainTx();

  m.request(T.CON, C.GET, [], null, 0);
  const req = decode(m.drainTx()[0]);
  m.feed(encode({ type: T.ACK, code: C.CONTENT, mid: req.mid, token: req.token, options: [[9, ascii("o")]] }), 5);
  assert.deepEqual(m.drainEvents(), [], "a piggybacked response with a critical unknown option is rejected (ignored)");
  assert.ok(m.deadline() > 0, "so the request is still being retransmitted");
  m.feed(ack(req.mid), 6);
  m.feed(encode({ type: T.CON, code: C.CONTENT, mid: 0x99, token: req.token, options: [[9, ascii("o")]] }), 7);
  assert.deepEqual(m.drainTx().map(hex), [hex(encode({ type: T.RST, code: 0, mid: 0x99 }))]);
  assert.deepEqual(m.drainEvents(), []);
});

test("server-side CON that is never acknowledged gives a Timeout event for its slot; NON from a server slot is sent once", () => {
  const m = client();
  m.put(ascii("ob"), 0x3000);
  assert.equal(m.ex.epBeginSeparate(T.CON, C.CONTENT, m.s + 0x3000, 2, -1), 0);
  const slot = m.ex.epSend(0n);
  assert.equal(slot, 1);
  let sends = m.drainTx().length, now = 0;
  let ev: any[] = [];
  while (m.deadline() >= 0) { now = m.deadline(); m.timeout(now); sends += m.drainTx().length; ev = ev.concat(m.drainEvents()); }
  assert.equal(sends, 5);
  assert.deepEqual(ev.map((e) => [e.kind, e.slot]), [[Ev.Timeout, slot]]);
  assert.equal(m.ex.epBeginSeparate(T.NON, C.CONTENT, m.s + 0x3000, 2, -1), 0);
  assert.equal(m.ex.epSend(0n), 1);
  assert.equal(m.drainTx().length, 1);
  assert.equal(m.drainTx().length, 0);
  assert.equal(m.deadline(), -1);
  // every server slot busy -> Busy
  for (const s of [1, 2]) { assert.equal(m.ex.epBeginSeparate(T.CON, C.CONTENT, m.s + 0x3000, 2, -1), 0); assert.equal(m.ex.epSend(0n), s); }
  assert.equal(m.ex.epBeginSeparate(T.CON, C.CONTENT, m.s + 0x3000, 2, -1), Err.Busy);
  assert.equal(m.ex.epSend(0n), Err.Busy);
  assert.equal(m.ex.epBeginResponse(C.CONTENT), Err.NoRequest, "no request to answer");
});

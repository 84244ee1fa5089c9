// CoAP message codec (RFC 7252 §3, §5.4, §5.10; RFC 7641 §2; RFC 7959 §2):
// the RFC 7252 Appendix A examples (bytes and message flows), every option
// delta/length form, differential round trips against an independent JS
// codec, each §3 message format error with its own code, option
// classification (critical/elective, length ranges, repetition), the
// getters LwM2M uses, and the builder's ordering/space errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, hex, unhex } from "./helpers/wasm";
import {
  CoapModule, T, C, O, Ev, Err, encode, decode, ascii, text, uintBytes, prng, Msg, opt, block,
} from "./helpers/coap-harness";

const VEC = JSON.parse(readFileSync(join(ROOT, "test/vectors/rfc7252-appendix-a.json"), "utf8"));
const TYPES: Record<string, number> = { CON: 0, NON: 1, ACK: 2, RST: 3 };
const OPTS: Record<string, number> = { "Uri-Path": 11 };
const code = (s: string) => { const [c, dd] = s.split("."); return (Number(c) << 5) | Number(dd); };

interface VMsg { from: string; type: string; code: string; mid: string; token: string; options: [string, string][]; payload: string; hex?: string; length?: number; lost?: boolean; after?: string }
const toMsg = (v: VMsg): Msg => ({
  type: TYPES[v.type], code: code(v.code), mid: parseInt(v.mid, 16), token: unhex(v.token),
  options: v.options.map(([n, s]) => [OPTS[n], ascii(s)] as [number, Uint8Array]), payload: ascii(v.payload),
});

test("RFC 7252 Appendix A: the reference encoder, our writer and the RFC's bytes agree; our parser reads every field back", () => {
  const m = new CoapModule();
  let withHex = 0;
  for (const fig of VEC.figures) {
    for (const v of fig.messages as VMsg[]) {
      const msg = toMsg(v);
      const ref = encode(msg);
      if (v.hex) { assert.equal(hex(ref), v.hex, `figure ${fig.figure}`); withHex++; }
      if (v.length) assert.equal(ref.length, v.length, `figure ${fig.figure}: stated length`);
      const ours = m.build(msg);
      assert.ok(ours instanceof Uint8Array, `figure ${fig.figure}: writer error ${ours}`);
      assert.equal(hex(ours as Uint8Array), hex(ref), `figure ${fig.figure}`);
      assert.equal(m.parse(ref), 0);
      assert.equal(m.ex.msgType(), msg.type);
      assert.equal(m.ex.msgCode(), msg.code);
      assert.equal(m.ex.msgMid(), msg.mid);
      assert.deepEqual(m.token(), msg.token);
      assert.deepEqual(m.options(), msg.options);
      assert.deepEqual(m.payload(), msg.payload);
    }
  }
  assert.equal(withHex, 4);
  // the comparison covers every bit: a one-bit change of an expected value fails it
  const v16 = VEC.figures[0].messages[0] as VMsg;
  const flipped = unhex(v16.hex!);
  flipped[5] ^= 1;
  assert.notEqual(hex(m.build(toMsg(v16)) as Uint8Array), hex(flipped));
});

/** Replays a figure with our endpoint as the client; IDs come from a scripted rng_fill. */
function clientFlow(fig: any) {
  const msgs = (fig.messages as VMsg[]).map((v) => ({ v, m: toMsg(v) }));
  const req = msgs[0].m;
  let m = new CoapModule();
  m.rngScript = [req.mid >> 8, req.mid & 0xff];
  assert.equal(m.epInit(), 0);
  m.ex.epSetTokenLen(req.token.length);
  m.rngScript.push(...req.token);
  let now = 0;
  assert.equal(m.request(req.type, req.code, req.options, null, now), 0);
  assert.deepEqual(m.drainTx().map(hex), [hex(encode(req))], `figure ${fig.figure}: our request`);
  if (fig.crash) { m = new CoapModule(3); assert.equal(m.epInit(), 0); }
  const responses: string[] = [];
  for (let i = 1; i < msgs.length; i++) {
    const { v, m: msg } = msgs[i];
    if (v.from === "client") {
      if (v.after === "ACK_TIMEOUT") {
        const d = m.deadline();
        assert.ok(d >= 2000 && d <= 3000, `retransmission after ACK_TIMEOUT..ACK_TIMEOUT*1.5 (${d})`);
        now = d;
        m.timeout(now);
      }
      assert.deepEqual(m.drainTx().map(hex), [hex(encode(msg))], `figure ${fig.figure}: message ${i}`);
      continue;
    }
    if (v.lost) continue;
    m.feed(encode(msg), now);
    for (const e of m.drainEvents()) {
      assert.equal(e.kind, Ev.Response);
      m.ex.selectRx();
      responses.push(text(m.read(m.ex.msgPayload(), m.ex.msgPayloadLen())));
    }
    if (msgs[i + 1]?.v.from !== "client") assert.deepEqual(m.drainTx(), [], `figure ${fig.figure}: nothing to send after message ${i}`);
  }
  assert.deepEqual(responses, fig.crash ? [] : ["22.3 C"], `figure ${fig.figure}: responses delivered`);
}

/** Replays a figure with our endpoint as the server. */
function serverFlow(fig: any) {
  const msgs = (fig.messages as VMsg[]).map((v) => ({ v, m: toMsg(v) })).filter((x, i) => fig.figure !== 23 || i < 2);
  const own = msgs.find((x) => x.v.from === "server" && x.m.type !== T.ACK);
  const m = new CoapModule();
  if (own) m.rngScript = [own.m.mid >> 8, own.m.mid & 0xff];
  assert.equal(m.epInit(), 0);
  const out: string[] = [];
  const events: number[] = [];
  for (let i = 0; i < msgs.length; i++) {
    const { v, m: msg } = msgs[i];
    if (v.from === "server") {
      assert.equal(out.shift(), hex(encode(msg)), `figure ${fig.figure}: our message ${i}`);
      continue;
    }
    if (v.lost) continue;
    m.feed(encode(msg), 0);
    for (const e of m.drainEvents()) {
      events.push(e.kind);
      if (e.kind !== Ev.Request) continue;
      const next = msgs[i + 1].m;
      if (next.type === T.ACK && next.code === 0) {
        assert.equal(m.ex.epAcceptSeparate(), 0);
        const sep = msgs[i + 2].m;
        m.put(sep.token, 0x3000);
        assert.equal(m.ex.epBeginSeparate(sep.type, sep.code, m.s + 0x3000, sep.token.length, -1), 0);
        m.put(sep.payload, 0x3100);
        m.ex.wPayload(m.s + 0x3100, sep.payload.length);
        assert.ok(m.ex.epSend(0n) >= 1);
      } else {
        assert.equal(m.respond(next.code, [], next.payload, 0), 0);
      }
    }
    out.push(...m.drainTx().map(hex));
  }
  assert.deepEqual(out, [], `figure ${fig.figure}: nothing else sent`);
  return events;
}

test("RFC 7252 Appendix A flows, our endpoint as the client: exact bytes of every message we send (request, retransmission, ACK of a separate response, RST of an unexpected one)", () => {
  for (const fig of VEC.figures) clientFlow(fig);
});

test("RFC 7252 Appendix A flows, our endpoint as the server: piggybacked, duplicate answered from the cache, separate, NON", () => {
  const ev: Record<number, number[]> = {};
  for (const fig of VEC.figures) ev[fig.figure] = serverFlow(fig);
  assert.deepEqual(ev[19], [Ev.Request], "figure 19: the retransmitted request is a duplicate, not a second request");
  assert.deepEqual(ev[20], [Ev.Request, Ev.Acked]);
  assert.deepEqual(ev[21], [Ev.Request, Ev.Reset]);
  assert.deepEqual(ev[22], [Ev.Request]);
});

test("every option delta and length form (4-bit, 13+8-bit, 269+16-bit) round-trips at the boundaries", () => {
  const m = new CoapModule();
  const lens = [0, 1, 12, 13, 14, 268, 269, 270, 1034, 1500];
  const deltas = [1, 12, 13, 14, 268, 269, 270, 1000];
  deltas.push(65535 - deltas.reduce((a, b) => a + b, 0)); // a 16-bit extended delta up to 65535
  let num = 0;
  const options: [number, Uint8Array][] = [];
  for (let i = 0; i < deltas.length; i++) {
    num += deltas[i];
    options.push([num, prng(i + 1).bytes(lens[i % lens.length])]);
  }
  assert.equal(num, 65535);
  for (const len of lens) options.push([65535, prng(len + 7).bytes(len)]); // delta 0, every length form
  const msg = { type: T.NON, code: C.CONTENT, mid: 0xbeef, token: unhex("0102030405060708"), options, payload: ascii("p") };
  const ref = encode(msg);
  const ours = m.build(msg, 0x8000) as Uint8Array;
  assert.equal(hex(ours), hex(ref));
  assert.equal(m.parse(ours), 0);
  assert.deepEqual(m.options(), options);
  assert.deepEqual(m.payload(), ascii("p"));
  // header nibbles as RFC 7252 §3.1 defines them
  const first = m.build({ type: T.CON, code: 1, options: [[12, new Uint8Array(12)]] }) as Uint8Array;
  assert.equal(first[4], 0xcc);
  const ext13 = m.build({ type: T.CON, code: 1, options: [[13, new Uint8Array(13)]] }) as Uint8Array;
  assert.deepEqual([...ext13.subarray(4, 7)], [0xdd, 0x00, 0x00]);
  const ext14 = m.build({ type: T.CON, code: 1, options: [[269, new Uint8Array(269)]] }) as Uint8Array;
  assert.deepEqual([...ext14.subarray(4, 9)], [0xee, 0x00, 0x00, 0x00, 0x00]);
  const big = m.build({ type: T.CON, code: 1, options: [[65535, new Uint8Array(0)]] }) as Uint8Array;
  assert.deepEqual([...big.subarray(4)], [0xe0, 0xfe, 0xf2]); // 65535 - 269 = 0xfef2
});

test("differential: 3000 random messages built by the reference encoder and by our writer are identical and parse back", () => {
  const m = new CoapModule();
  const r = prng(0xc0a9);
  for (let n = 0; n < 3000; n++) {
    const options: [number, Uint8Array][] = [];
    let num = 0;
    const count = r.int(8);
    for (let i = 0; i < count; i++) {
      num += [0, 1, 3, 12, 13, 200, 268, 269, 1000][r.int(9)];
      if (num > 65535) break;
      options.push([num, r.bytes([0, 1, 2, 4, 12, 13, 40, 268, 269, 300][r.int(10)])]);
    }
    const msg = { type: r.int(4), code: [1, 2, 3, 4, 0x45, 0x84, 0xa0][r.int(7)], mid: r.int(65536), token: r.bytes(r.int(9)), options, payload: r.bytes(r.int(3) ? r.int(100) : 0) };
    const ref = encode(msg);
    const ours = m.build(msg, 0x8000) as Uint8Array;
    assert.equal(hex(ours), hex(ref), `message ${n}`);
    assert.equal(m.parse(ref), 0, `message ${n}: ${hex(ref)}`);
    assert.deepEqual(m.options(), options);
    assert.deepEqual(m.payload(), msg.payload);
    assert.deepEqual(m.token(), msg.token);
    assert.equal(m.ex.msgMid(), msg.mid);
  }
});

test("RFC 7252 §3 message format errors each have their own code; the endpoint rejects a CON with a RST and drops the rest", () => {
  const cases: [string, string, number][] = [
    ["3 bytes", "400100", Err.Truncated],
    ["empty datagram", "", Err.Truncated],
    ["version 0", "00010001", Err.Version],
    ["version 2", "80010001", Err.Version],
    ["version 3", "c0010001", Err.Version],
    ["TKL 9", "49010001" + "00".repeat(9), Err.TokenLength],
    ["TKL 15", "4f010001" + "00".repeat(15), Err.TokenLength],
    ["token longer than the datagram", "44010001aabb", Err.Truncated],
    ["Empty message with a token", "41000001aa", Err.EmptyWithData],
    ["Empty message with bytes after the MID", "40000001ff", Err.EmptyWithData],
    ["option delta nibble 15 without marker", "40010001f0", Err.OptionDelta15],
    ["option length nibble 15", "40010001bf", Err.OptionLength15],
    ["payload marker with an empty payload", "40010001b161ff", Err.EmptyPayload],
    ["option value past the end", "40010001b361", Err.Truncated],
    ["13-extended delta byte missing", "40010001d0", Err.Truncated],
    ["14-extended delta bytes missing", "40010001e000", Err.Truncated],
    ["13-extended length byte missing", "40010001bd", Err.Truncated],
    ["14-extended length bytes missing", "40010001be01", Err.Truncated],
    ["option number above 65535", "40010001e0fef2e00001", Err.OptionNumber],
    ["code class 1", "40200001", Err.ReservedClass],
    ["code class 6", "40c00001", Err.ReservedClass],
    ["code class 7", "40ff0001", Err.ReservedClass],
  ];
  const m = new CoapModule();
  for (const [name, h, err] of cases) assert.equal(m.parse(unhex(h)), err, name);
  for (const [name, h, err] of cases) {
    for (const type of [T.CON, T.NON, T.ACK, T.RST]) {
      const e = new CoapModule();
      e.epInit();
      const b = unhex(h);
      if (b.length >= 1) b[0] = (b[0] & 0xcf) | (type << 4);
      assert.equal(e.feed(b, 0), err, name);
      const tx = e.drainTx();
      if (type === T.CON && err !== Err.Version && b.length >= 4) {
        assert.deepEqual(tx.map(hex), [hex(encode({ type: T.RST, code: 0, mid: (b[2] << 8) | b[3] }))], `${name}: RST`);
      } else {
        assert.deepEqual(tx, [], `${name} (type ${type}): silently dropped`);
      }
      assert.deepEqual(e.drainEvents(), []);
    }
  }
});

test("option classification (§5.4.1, §5.4.3, §5.4.5): critical unknown / bad length / repeated non-repeatable flag badOption; elective ones are ignored", () => {
  const m = new CoapModule();
  const check = (options: [number, Uint8Array][], bad: number, name: string) => {
    assert.equal(m.parse(encode({ type: T.CON, code: C.GET, mid: 1, options })), 0, name);
    assert.equal(m.ex.msgBadOption(), bad, name);
  };
  check([[O.URI_PATH, ascii("a")], [O.URI_PATH, ascii("b")], [O.URI_QUERY, ascii("q")]], 0, "repeatable Uri-Path/Uri-Query");
  check([[9, ascii("x")]], 9, "unknown critical 9 (e.g. OSCORE)");
  check([[2049, ascii("x")]], 2049, "unknown critical 2049");
  check([[2048, ascii("x")], [258, new Uint8Array(0)]], 0, "unknown elective 2048, No-Response 258");
  check([[O.URI_HOST, new Uint8Array(0)]], O.URI_HOST, "Uri-Host of length 0 (range 1..255)");
  check([[O.URI_PORT, new Uint8Array(3)]], O.URI_PORT, "Uri-Port of 3 bytes");
  check([[O.IF_NONE_MATCH, ascii("x")]], O.IF_NONE_MATCH, "If-None-Match must be empty");
  check([[O.IF_MATCH, new Uint8Array(9)]], O.IF_MATCH, "If-Match of 9 bytes");
  check([[O.BLOCK2, new Uint8Array(4)]], O.BLOCK2, "Block2 of 4 bytes");
  check([[O.ACCEPT, uintBytes(0)], [O.ACCEPT, uintBytes(40)]], O.ACCEPT, "Accept twice");
  check([[O.BLOCK1, block(0, true, 2)], [O.BLOCK1, block(1, true, 2)]], O.BLOCK1, "Block1 twice");
  check([[O.CONTENT_FORMAT, uintBytes(0)], [O.CONTENT_FORMAT, uintBytes(40)]], 0, "elective Content-Format twice: ignored");
  check([[O.MAX_AGE, new Uint8Array(5)]], 0, "elective Max-Age of 5 bytes: ignored");
  check([[O.ETAG, new Uint8Array(0)]], 0, "elective ETag of 0 bytes: ignored");
  check([[O.PROXY_URI, ascii("coap://x/")]], O.PROXY_URI, "Proxy-Uri: no proxy here (the endpoint answers 5.05)");
  check([[O.PROXY_SCHEME, ascii("coap")]], O.PROXY_SCHEME, "Proxy-Scheme likewise");
  // getters take the first valid occurrence and skip invalid elective ones
  m.parse(encode({ type: T.CON, code: C.GET, options: [[O.CONTENT_FORMAT, uintBytes(0)], [O.CONTENT_FORMAT, uintBytes(40)], [O.MAX_AGE, new Uint8Array(5)], [O.ETAG, new Uint8Array(0)], [O.ETAG, ascii("ab")]] }));
  assert.equal(m.ex.msgContentFormat(), 0);
  assert.equal(m.ex.msgMaxAge(), 60n, "invalid Max-Age ignored: default 60 s");
  assert.equal(m.ex.msgCount(O.ETAG), 1);
});

test("getters for the options LwM2M uses (values, absence, defaults, Block NUM/M/SZX)", () => {
  const m = new CoapModule();
  const options: [number, Uint8Array][] = [
    [O.IF_MATCH, ascii("e1")], [O.IF_MATCH, new Uint8Array(0)],
    [O.URI_HOST, ascii("example.net")], [O.ETAG, unhex("0102030405060708")],
    [O.IF_NONE_MATCH, new Uint8Array(0)], [O.OBSERVE, uintBytes(0x123456)], [O.URI_PORT, uintBytes(5683)],
    [O.LOCATION_PATH, ascii("rd")], [O.LOCATION_PATH, ascii("5a3f")],
    [O.URI_PATH, ascii("3")], [O.URI_PATH, ascii("0")], [O.URI_PATH, ascii("")],
    [O.CONTENT_FORMAT, uintBytes(11542)], [O.MAX_AGE, uintBytes(0xffffffff)],
    [O.URI_QUERY, ascii("ep=dev1")], [O.URI_QUERY, ascii("lt=300")], [O.ACCEPT, uintBytes(112)],
    [O.BLOCK2, uintBytes((0xfffff << 4) | 8 | 6)], [O.BLOCK1, uintBytes((5 << 4) | 2)],
    [O.SIZE2, uintBytes(100000)], [O.SIZE1, uintBytes(0)],
  ];
  assert.equal(m.parse(encode({ type: T.CON, code: C.PUT, mid: 7, token: ascii("tk"), options })), 0);
  assert.equal(m.ex.msgBadOption(), 0);
  assert.equal(m.ex.msgContentFormat(), 11542);
  assert.equal(m.ex.msgAccept(), 112);
  assert.equal(m.ex.msgMaxAge(), 0xffffffffn);
  assert.equal(m.ex.msgUriPort(), 5683);
  assert.equal(m.ex.msgObserve(), 0x123456);
  assert.equal(m.ex.msgBlock2(), (0xfffff << 4) | 8 | 6);
  assert.equal(m.ex.msgBlock1(), (5 << 4) | 2);
  assert.equal(m.ex.msgSize2(), 100000n);
  assert.equal(m.ex.msgSize1(), 0n, "empty uint = 0");
  assert.equal(m.ex.msgIfNoneMatch(), 1);
  assert.equal(m.ex.msgCount(O.URI_PATH), 3);
  assert.equal(m.ex.msgCount(O.URI_QUERY), 2);
  assert.equal(m.ex.msgCount(O.LOCATION_PATH), 2);
  assert.equal(m.ex.msgCount(O.IF_MATCH), 2);
  const seg = (num: number) => {
    const n = m.ex.msgSegments(num, m.s + 0x30000, 4096);
    const b = m.read(m.s + 0x30000, n);
    const out: string[] = [];
    for (let p = 0; p < n;) { const len = b[p + 2] | (b[p + 3] << 8); out.push(text(b.slice(p + 4, p + 4 + len))); p += 4 + len; }
    return out;
  };
  assert.deepEqual(seg(O.URI_PATH), ["3", "0", ""]);
  assert.deepEqual(seg(O.URI_QUERY), ["ep=dev1", "lt=300"]);
  assert.deepEqual(seg(O.LOCATION_PATH), ["rd", "5a3f"]);
  assert.deepEqual(seg(O.URI_HOST), ["example.net"]);
  assert.equal(hex(ascii(seg(O.ETAG)[0])), "0102030405060708");
  // absent options
  assert.equal(m.parse(encode({ type: T.NON, code: C.GET })), 0);
  for (const g of ["msgContentFormat", "msgAccept", "msgUriPort", "msgObserve", "msgBlock1", "msgBlock2"]) assert.equal(m.ex[g](), -1, g);
  assert.equal(m.ex.msgSize1(), -1n);
  assert.equal(m.ex.msgSize2(), -1n);
  assert.equal(m.ex.msgMaxAge(), 60n, "Max-Age default (§5.10.5)");
  assert.equal(m.ex.msgIfNoneMatch(), 0);
  assert.equal(m.ex.msgCount(O.URI_PATH), 0);
  assert.equal(m.ex.msgPayloadLen(), 0);
});

test("writer: ascending order enforced (OptionOrder), no option after the payload, NoSpace, token > 8, minimal uint encoding", () => {
  const m = new CoapModule();
  assert.equal(m.build({ type: T.CON, code: 1, options: [[O.URI_PATH, ascii("a")], [O.URI_HOST, ascii("h")]] }, 2048, true), Err.OptionOrder);
  const same = m.build({ type: T.CON, code: 1, options: [[O.URI_PATH, ascii("a")], [O.URI_PATH, ascii("b")]] }, 2048, true);
  assert.ok(same instanceof Uint8Array, "equal numbers (repeated option) are fine");
  m.ex.wBegin(m.s + 0x30000, 100, T.CON, 1, 1, 0, 0);
  m.put(ascii("xy"), 0x100);
  m.ex.wPayload(m.s + 0x100, 2);
  m.ex.wUint(O.SIZE1, 5);
  assert.equal(m.ex.wFinish(), Err.OptionOrder, "an option after the payload");
  assert.equal(m.build({ type: T.CON, code: 1, token: new Uint8Array(9) }), Err.BadArgument);
  assert.equal(m.build({ type: T.CON, code: 1, payload: new Uint8Array(20) }, 24), Err.NoSpace);
  assert.ok(m.build({ type: T.CON, code: 1, payload: new Uint8Array(19) }, 24) instanceof Uint8Array);
  assert.equal(m.build({ type: T.CON, code: 1, options: [[O.URI_PATH, new Uint8Array(40)]] }, 44), Err.NoSpace);
  assert.equal(m.build({ type: T.CON, code: 1 }, 3), Err.NoSpace);
  for (const [v, len] of [[0, 0], [1, 1], [255, 1], [256, 2], [65535, 2], [65536, 3], [0xffffff, 3], [0x1000000, 4], [0xffffffff, 4]]) {
    m.ex.wBegin(m.s + 0x30000, 100, T.CON, 1, 1, 0, 0);
    m.ex.wUint(O.SIZE2, v);
    const n = m.ex.wFinish();
    const d = decode(m.read(m.s + 0x30000, n));
    assert.equal(opt(d, O.SIZE2)[0].length, len, `uint ${v}`);
    assert.deepEqual(opt(d, O.SIZE2)[0], uintBytes(v));
  }
  // payload written in place (payloadPtr/commit) equals wPayload
  m.ex.wBegin(m.s + 0x30000, 100, T.NON, 0x45, 9, 0, 0);
  const p = m.ex.wPayloadPtr();
  assert.equal(m.ex.wPayloadRoom(), 95);
  m.m.write(ascii("hello"), p);
  m.ex.wCommit(5);
  assert.equal(hex(m.read(m.s + 0x30000, m.ex.wFinish())), hex(encode({ type: T.NON, code: 0x45, mid: 9, payload: ascii("hello") })));
});

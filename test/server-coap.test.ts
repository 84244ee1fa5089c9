// server/coap.ts: the development servers' CoAP codec and transaction layer.
// The codec is checked against the independent reference codec of
// test/helpers/coap-harness.ts and RFC 7252 Appendix A; transactions against
// a raw scripted peer over an in-memory transport (exact messages, short
// timers), and against libcoap 4.3.1 over UDP in both directions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CoapEndpoint, CoapFormatError, CoapMessage, CoapResetError, CoapTimeoutError, Code, Opt, Type, FAST_PARAMS,
  decodeMessage, encodeMessage, getOption, getUintOption, toBytes, toText, IncomingRequest,
} from "../server/coap";
import { BoundAddress, PeerInfo, ServerTransport, UdpTransport } from "../server/transport";
import { encode as refEncode, decode as refDecode, Msg, prng, T, C, O, uintBytes, block, ascii, readUint, opt } from "./helpers/coap-harness";
import { requirePeer } from "./helpers/peers";
import { startCoapServer, runCoapClient, coapBinary } from "./helpers/libcoap-peer";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const toOurs = (m: Msg): CoapMessage => ({ type: m.type, code: m.code, mid: m.mid, token: m.token, options: m.options.map(([number, value]) => ({ number, value })), payload: m.payload });

// ---- codec -------------------------------------------------------------------------

test("codec: RFC 7252 Appendix A Figures 16 and 17 byte for byte", () => {
  const v = JSON.parse(readFileSync(join(__dirname, "vectors/rfc7252-appendix-a.json"), "utf8"));
  let n = 0;
  for (const fig of v.figures) for (const m of fig.messages) {
    if (!m.hex) continue;
    const bytes = unhex(m.hex);
    const d = decodeMessage(bytes);
    assert.equal(d.mid, parseInt(m.mid, 16));
    assert.equal(`${d.code >> 5}.${String(d.code & 31).padStart(2, "0")}`, m.code);
    assert.equal(hex(d.token), m.token);
    assert.equal(toText(d.payload), m.payload);
    assert.equal(hex(encodeMessage(d)), m.hex);
    n++;
  }
  assert.equal(n, 4);
});

test("codec: 3000 random messages agree with the reference codec both ways", () => {
  const r = prng(0x5eed);
  const nums = [1, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 17, 20, 23, 27, 28, 35, 39, 60, 258, 2049, 65000];
  for (let i = 0; i < 3000; i++) {
    const options: [number, Uint8Array][] = [];
    for (let k = r.int(6); k > 0; k--) options.push([nums[r.int(nums.length)], r.bytes([0, 1, 5, 12, 13, 200, 268, 269, 300][r.int(9)])]);
    options.sort((a, b) => a[0] - b[0]);
    const code = r.int(2) ? 1 + r.int(4) : [0x41, 0x44, 0x45, 0x84, 0xa0][r.int(5)];
    const m: Msg = { type: r.int(4), code, mid: r.int(65536), token: r.bytes(r.int(9)), options, payload: r.bytes(r.int(3) ? r.int(40) : 0) };
    const ref = refEncode(m);
    assert.equal(hex(encodeMessage(toOurs(m))), hex(ref), `message ${i}`);
    const back = decodeMessage(ref);
    assert.deepEqual(back, toOurs(refDecode(ref)));
  }
});

test("codec: format errors are CoapFormatError; 20000 random inputs never throw anything else", () => {
  const bad = ["40", "8001 0000", "49010000", "40010001ff", "4001 0001 f0", "4001 0001 d1", "4001 0001 e100", "4001 0001 31 6161", "4100 0000 01"];
  for (const b of bad) assert.throws(() => decodeMessage(unhex(b.replace(/ /g, ""))), CoapFormatError, b);
  const r = prng(77);
  let ok = 0;
  for (let i = 0; i < 20000; i++) {
    const b = r.bytes(r.int(24));
    if (b.length) b[0] = (b[0] & 0x3f) | 0x40;
    try {
      const m = decodeMessage(b);
      ok++;
      assert.deepEqual(decodeMessage(encodeMessage(m)), m);
    } catch (e) {
      assert.ok(e instanceof CoapFormatError, `unexpected ${e} for ${hex(b)}`);
    }
  }
  assert.ok(ok > 100);
});

// ---- an in-memory transport and a raw scripted peer --------------------------------------

class MemoryTransport extends EventEmitter implements ServerTransport {
  readonly scheme = "coap" as const;
  /** Everything our endpoint sent, decoded by the reference codec. */
  out: Msg[] = [];
  /** The scripted peer: sees each datagram our endpoint sends. */
  onSend: (m: Msg) => void = () => {};
  async bind(): Promise<BoundAddress> { return { address: "mem", port: 1 }; }
  address() { return { address: "mem", port: 1 }; }
  send(_peerKey: string, bytes: Uint8Array) {
    const m = refDecode(bytes);
    this.out.push(m);
    setImmediate(() => this.onSend(m));
  }
  /** A datagram from the peer. */
  inject(m: Partial<Msg> & { type: number; code: number }) {
    this.emit("datagram", "peer", refEncode(m), { address: "mem", port: 2, secure: false } as PeerInfo);
  }
  peerKeyFor() { return "peer"; }
  peerInfo() { return { address: "mem", port: 2, secure: false }; }
  async close() {}
}

function setup(params = {}) {
  const t = new MemoryTransport();
  const ep = new CoapEndpoint(t, { ...FAST_PARAMS, ...params });
  return { t, ep };
}
const ack = (m: Msg, extra: Partial<Msg> = {}) => ({ type: T.ACK, code: 0, mid: m.mid, ...extra });

test("client: piggybacked response; CON request carries path, query, Accept", async () => {
  const { t, ep } = setup();
  t.onSend = (m) => t.inject(ack(m, { code: C.CONTENT, token: m.token, payload: ascii("22.3 C"), options: [[O.CONTENT_FORMAT, uintBytes(0)]] }));
  const r = await ep.request("peer", { code: Code.GET, path: "/3/0/1", query: ["a=1", "b"], accept: 11542 });
  assert.equal(r.code, Code.CONTENT);
  assert.equal(toText(r.payload), "22.3 C");
  assert.equal(r.contentFormat, 0);
  const sent = t.out[0];
  assert.equal(sent.type, T.CON);
  assert.deepEqual(opt(sent, O.URI_PATH).map((b) => Buffer.from(b).toString()), ["3", "0", "1"]);
  assert.deepEqual(opt(sent, O.URI_QUERY).map((b) => Buffer.from(b).toString()), ["a=1", "b"]);
  assert.equal(readUint(opt(sent, O.ACCEPT)[0]), 11542);
  assert.equal(sent.token.length, 8);
  await ep.close();
});

test("client: separate response (empty ACK, then a CON response we acknowledge)", async () => {
  const { t, ep } = setup();
  t.onSend = (m) => {
    if (m.code !== C.GET) return;
    t.inject(ack(m));
    setTimeout(() => t.inject({ type: T.CON, code: C.CONTENT, mid: 0x4242, token: m.token, payload: ascii("late") }), 150);
  };
  const r = await ep.request("peer", { code: Code.GET, path: "/slow" });
  assert.equal(toText(r.payload), "late");
  await sleep(5);
  const last = t.out[t.out.length - 1];
  assert.deepEqual([last.type, last.code, last.mid], [T.ACK, 0, 0x4242]);
  assert.equal(t.out.filter((m) => m.code === C.GET).length, 1, "no retransmission after the empty ACK");
  await ep.close();
});

test("client: retransmission with the same MID and doubling timeouts, then success; RST rejects; silence times out", async () => {
  const { t, ep } = setup();
  const times: number[] = [];
  const t0 = Date.now();
  t.onSend = (m) => {
    times.push(Date.now() - t0);
    if (times.length === 3) t.inject(ack(m, { code: C.CHANGED, token: m.token }));
  };
  const r = await ep.request("peer", { code: Code.PUT, path: "/x", payload: toBytes("v") });
  assert.equal(r.code, Code.CHANGED);
  assert.equal(new Set(t.out.map((m) => m.mid)).size, 1);
  assert.ok(times[1] >= 95 && times[1] < 400, `first retransmission after ACK_TIMEOUT..x1.5 (${times[1]} ms)`);
  assert.ok(times[2] - times[1] >= 190, `second after twice that (${times[2] - times[1]} ms)`);

  t.onSend = (m) => t.inject({ type: T.RST, code: 0, mid: m.mid });
  await assert.rejects(ep.request("peer", { code: Code.GET, path: "/r" }), CoapResetError);

  t.out.length = 0;
  t.onSend = () => {};
  const s = Date.now();
  await assert.rejects(ep.request("peer", { code: Code.GET, path: "/void" }), (e: Error) => e instanceof CoapTimeoutError && /no ACK after 2 retransmissions/.test(e.message));
  assert.equal(t.out.length, 3, "1 + MAX_RETRANSMIT transmissions");
  assert.ok(Date.now() - s < 2500);
  await ep.close();
});

test("client: a CON response that overtakes the ACK stops retransmission; an unknown response is RST", async () => {
  const { t, ep } = setup();
  t.onSend = (m) => { if (m.code === C.GET) t.inject({ type: T.CON, code: C.CONTENT, mid: 7, token: m.token, payload: ascii("x") }); };
  await ep.request("peer", { code: Code.GET, path: "/a" });
  await sleep(400);
  assert.equal(t.out.filter((m) => m.code === C.GET).length, 1);
  t.inject({ type: T.CON, code: C.CONTENT, mid: 8, token: unhex("0102"), payload: ascii("?") });
  await sleep(5);
  const last = t.out[t.out.length - 1];
  assert.deepEqual([last.type, last.mid], [T.RST, 8]);
  await ep.close();
});

test("client: Block1 upload (64-byte blocks, the peer lowers to 32), Size1 on the first block", async () => {
  const { t, ep } = setup({ blockSzx: 2 });
  const body = prng(3).bytes(300);
  const got: Uint8Array[] = [];
  t.onSend = (m) => {
    if (m.type !== T.CON) return;
    const b1 = readUint(opt(m, O.BLOCK1)[0]);
    const num = b1 >> 4, more = (b1 & 8) !== 0, szx = b1 & 7;
    got.push(m.payload);
    if (!more) { t.inject(ack(m, { code: C.CHANGED, token: m.token, options: [[O.BLOCK1, uintBytes(b1)]] })); return; }
    // first block: ask for 32-byte blocks (RFC 7959 §2.5); NUM in units of the new size
    const reply = num === 0 ? (0 << 4) | 8 | 1 : (num << 4) | 8 | szx;
    t.inject(ack(m, { code: C.CONTINUE, token: m.token, options: [[O.BLOCK1, uintBytes(reply)]] }));
  };
  const r = await ep.request("peer", { code: Code.PUT, path: "/big", payload: body });
  assert.equal(r.code, Code.CHANGED);
  assert.equal(hex(Buffer.concat(got)), hex(body));
  assert.equal(got[0].length, 64);
  assert.ok(got.slice(1, -1).every((c) => c.length === 32));
  assert.equal(readUint(opt(t.out[0], O.SIZE1)[0]), 300);
  const b1 = t.out.filter((m) => m.type === T.CON).map((m) => readUint(opt(m, O.BLOCK1)[0]));
  assert.equal(b1[1], (2 << 4) | 8 | 1, "after 64 bytes, block 2 of 32");
  await ep.close();
});

test("client: Block2 download with ETag check; a changed ETag fails the transfer", async () => {
  const { t, ep } = setup();
  const body = prng(4).bytes(200);
  const etag = unhex("aa");
  t.onSend = (m) => {
    if (m.type !== T.CON) return;
    const b = opt(m, O.BLOCK2);
    const num = b.length ? readUint(b[0]) >> 4 : 0;
    const chunk = body.subarray(num * 64, num * 64 + 64);
    const more = (num + 1) * 64 < body.length;
    t.inject(ack(m, { code: C.CONTENT, token: m.token, payload: chunk, options: [[O.BLOCK2, uintBytes((num << 4) | (more ? 8 : 0) | 2)], [O.ETAG, etag]] }));
  };
  const r = await ep.request("peer", { code: Code.GET, path: "/big" });
  assert.equal(hex(r.payload), hex(body));
  assert.equal(t.out.filter((m) => m.type === T.CON).length, 4);
  t.onSend = (m) => {
    if (m.type !== T.CON) return;
    const b = opt(m, O.BLOCK2);
    const num = b.length ? readUint(b[0]) >> 4 : 0;
    t.inject(ack(m, { code: C.CONTENT, token: m.token, payload: body.subarray(num * 64, num * 64 + 64), options: [[O.BLOCK2, uintBytes((num << 4) | 8 | 2)], [O.ETAG, unhex(num === 0 ? "01" : "02")]] }));
  };
  await assert.rejects(ep.request("peer", { code: Code.GET, path: "/big" }), /ETag mismatch/);
  await ep.close();
});

test("client: Observe — registration, CON/NON notifications, stale and duplicate ones dropped, active cancel with the same token, RST after cancel", async () => {
  const { t, ep } = setup();
  let token: Uint8Array = new Uint8Array(0);
  t.onSend = (m) => {
    if (m.type !== T.CON || m.code !== C.GET) return;
    const obs = readUint(opt(m, O.OBSERVE)[0] ?? new Uint8Array(0));
    if (opt(m, O.OBSERVE).length && obs === 0) { token = m.token; t.inject(ack(m, { code: C.CONTENT, token: m.token, payload: ascii("a"), options: [[O.OBSERVE, uintBytes(5)]] })); }
    else t.inject(ack(m, { code: C.CONTENT, token: m.token, payload: ascii("final") })); // deregistration answer
  };
  const seen: string[] = [];
  const o = await ep.observe("peer", { code: Code.GET, path: "/3/0/13" }, (r) => seen.push(`${r.observe}:${toText(r.payload)}`));
  assert.ok(o.established);
  assert.equal(toText(o.response.payload), "a");
  t.inject({ type: T.NON, code: C.CONTENT, mid: 100, token, payload: ascii("b"), options: [[O.OBSERVE, uintBytes(7)]] });
  t.inject({ type: T.CON, code: C.CONTENT, mid: 101, token, payload: ascii("stale"), options: [[O.OBSERVE, uintBytes(6)]] });
  t.inject({ type: T.CON, code: C.CONTENT, mid: 102, token, payload: ascii("c"), options: [[O.OBSERVE, uintBytes(8)]] });
  t.inject({ type: T.CON, code: C.CONTENT, mid: 102, token, payload: ascii("c"), options: [[O.OBSERVE, uintBytes(8)]] });
  await sleep(10);
  assert.deepEqual(seen, ["7:b", "8:c"]);
  const acks = t.out.filter((m) => m.type === T.ACK).map((m) => m.mid);
  assert.deepEqual(acks, [101, 102, 102], "CON notifications are acknowledged (stale and duplicate too)");
  const fin = await o.cancel();
  const dereg = t.out.filter((m) => m.code === C.GET).pop()!;
  assert.equal(hex(dereg.token), hex(token));
  assert.equal(readUint(opt(dereg, O.OBSERVE)[0]), 1);
  assert.equal(toText((fin as any).payload), "final");
  t.inject({ type: T.CON, code: C.CONTENT, mid: 103, token, payload: ascii("d"), options: [[O.OBSERVE, uintBytes(9)]] });
  await sleep(5);
  assert.deepEqual([t.out[t.out.length - 1].type, t.out[t.out.length - 1].mid], [T.RST, 103]);
  assert.deepEqual(seen, ["7:b", "8:c"]);
  await ep.close();
});

test("client: a block-wise notification is completed with a GET without Observe (RFC 7959 §2.6)", async () => {
  const { t, ep } = setup();
  const body = prng(9).bytes(100);
  let token: Uint8Array = new Uint8Array(0);
  t.onSend = (m) => {
    if (m.type !== T.CON) return;
    if (opt(m, O.OBSERVE).length) { token = m.token; t.inject(ack(m, { code: C.CONTENT, token: m.token, payload: ascii("x"), options: [[O.OBSERVE, uintBytes(1)]] })); return; }
    const num = readUint(opt(m, O.BLOCK2)[0]) >> 4;
    t.inject(ack(m, { code: C.CONTENT, token: m.token, payload: body.subarray(num * 64), options: [[O.BLOCK2, uintBytes((num << 4) | 2)]] }));
  };
  const got: Uint8Array[] = [];
  await ep.observe("peer", { code: Code.GET, path: "/big" }, (r) => got.push(r.payload));
  t.inject({ type: T.NON, code: C.CONTENT, mid: 5, token, payload: body.subarray(0, 64), options: [[O.OBSERVE, uintBytes(2)], [O.BLOCK2, uintBytes(8 | 2)]] });
  await sleep(20);
  assert.equal(got.length, 1);
  assert.equal(hex(got[0]), hex(body));
  const g = t.out.filter((m) => m.code === C.GET).pop()!;
  assert.equal(opt(g, O.OBSERVE).length, 0);
  await ep.close();
});

// ---- server side against the raw peer --------------------------------------------------------

test("server: piggybacked, NON, duplicate CON answered from the cache (handler runs once), ping and malformed CON get RST, 4.02", async () => {
  const { t, ep } = setup();
  let calls = 0;
  ep.handler = (req: IncomingRequest) => { calls++; return { code: Code.CONTENT, payload: toBytes(`hello ${req.path} ${req.query.join("&")}`), contentFormat: 0 }; };
  const get: Msg = { type: T.CON, code: C.GET, mid: 0x100, token: unhex("aabb"), options: [[O.URI_PATH, ascii("x")], [O.URI_QUERY, ascii("q=1")]], payload: new Uint8Array(0) };
  t.inject(get);
  await sleep(5);
  t.inject(get);
  await sleep(5);
  assert.equal(calls, 1);
  assert.equal(t.out.length, 2);
  assert.equal(hex(refEncode(t.out[0])), hex(refEncode(t.out[1])));
  assert.deepEqual([t.out[0].type, t.out[0].code, t.out[0].mid, hex(t.out[0].token)], [T.ACK, C.CONTENT, 0x100, "aabb"]);
  assert.equal(Buffer.from(t.out[0].payload).toString(), "hello /x q=1");

  t.inject({ ...get, type: T.NON, mid: 0x101 });
  await sleep(5);
  assert.equal(t.out[2].type, T.NON);
  assert.equal(hex(t.out[2].token), "aabb");

  t.inject({ type: T.CON, code: 0, mid: 0x102 });
  t.emit("datagram", "peer", unhex("4f010103"), { address: "mem", port: 2, secure: false }); // CON with token length 15
  t.inject({ ...get, mid: 0x104, options: [[9, ascii("?")]] });
  await sleep(5);
  assert.deepEqual(t.out.slice(3).map((m) => [m.type, m.code, m.mid]), [[T.RST, 0, 0x102], [T.RST, 0, 0x103], [T.ACK, C.BAD_OPTION, 0x104]]);
  await ep.close();
});

test("server: a slow handler gets an empty ACK, then a CON separate response retransmitted until ACKed", async () => {
  const { t, ep } = setup();
  ep.handler = async () => { await sleep(120); return { code: Code.CHANGED }; };
  t.inject({ type: T.CON, code: C.POST, mid: 0x200, token: unhex("01"), options: [[O.URI_PATH, ascii("slow")]] });
  await sleep(60);
  assert.deepEqual([t.out[0].type, t.out[0].code, t.out[0].mid], [T.ACK, 0, 0x200]);
  await sleep(300);
  const sep = t.out.filter((m) => m.code === C.CHANGED);
  assert.ok(sep.length >= 2, "retransmitted while not acknowledged");
  assert.deepEqual([sep[0].type, hex(sep[0].token)], [T.CON, "01"]);
  t.inject({ type: T.ACK, code: 0, mid: sep[0].mid });
  const n = t.out.length;
  await sleep(600);
  assert.equal(t.out.length, n, "no more retransmissions once acknowledged");
  await ep.close();
});

test("server: Block1 request reassembly (2.31 Continue per block, 4.08 out of order) and Block2 serving with Size2", async () => {
  const { t, ep } = setup({ blockSzx: 2 });
  let body: Uint8Array = new Uint8Array(0);
  const big = prng(12).bytes(150);
  ep.handler = (req) => { body = req.payload; return req.code === Code.GET ? { code: Code.CONTENT, payload: big } : { code: Code.CHANGED }; };
  const data = prng(11).bytes(150);
  for (let num = 0; num < 3; num++) {
    const more = num < 2;
    t.inject({ type: T.CON, code: C.PUT, mid: 0x300 + num, token: unhex("02"), options: [[O.URI_PATH, ascii("up")], [O.BLOCK1, block(num, more, 2)]], payload: data.subarray(num * 64, num * 64 + 64) });
    await sleep(5);
    const r = t.out[t.out.length - 1];
    assert.equal(r.code, more ? C.CONTINUE : C.CHANGED);
    assert.equal(readUint(opt(r, O.BLOCK1)[0]), (num << 4) | (more ? 8 : 0) | 2);
  }
  assert.equal(hex(body), hex(data));
  t.inject({ type: T.CON, code: C.PUT, mid: 0x310, token: unhex("03"), options: [[O.URI_PATH, ascii("up")], [O.BLOCK1, block(2, false, 2)]], payload: data.subarray(0, 22) });
  await sleep(5);
  assert.equal(t.out[t.out.length - 1].code, C.INCOMPLETE);

  t.inject({ type: T.CON, code: C.GET, mid: 0x320, token: unhex("04"), options: [[O.URI_PATH, ascii("big")]] });
  await sleep(5);
  let r = t.out[t.out.length - 1];
  assert.equal(readUint(opt(r, O.BLOCK2)[0]), 8 | 2);
  assert.equal(readUint(opt(r, O.SIZE2)[0]), 150);
  assert.equal(hex(r.payload), hex(big.subarray(0, 64)));
  t.inject({ type: T.CON, code: C.GET, mid: 0x321, token: unhex("05"), options: [[O.URI_PATH, ascii("big")], [O.BLOCK2, block(2, false, 2)]] });
  await sleep(5);
  r = t.out[t.out.length - 1];
  assert.equal(readUint(opt(r, O.BLOCK2)[0]), (2 << 4) | 2);
  assert.equal(hex(r.payload), hex(big.subarray(128)));
  await ep.close();
});

// ---- libcoap interop -------------------------------------------------------------------------------

async function withLibcoapServer(t: any, extra: string[], body: (ep: CoapEndpoint, peerKey: string) => Promise<void>) {
  if (!requirePeer(t, coapBinary("server"))) return;
  const srv = await startCoapServer(extra);
  const tr = new UdpTransport();
  await tr.bind(0);
  const ep = new CoapEndpoint(tr, { ackTimeoutMs: 500, maxRetransmit: 2, responseTimeoutMs: 5000 });
  try {
    await body(ep, tr.peerKeyFor("127.0.0.1", srv.port));
  } finally {
    await ep.close();
    await tr.close();
    await srv.stop();
  }
}

test("libcoap: our client -> coap-server: GET /, NON GET /time, 4.04, separate response from /async", async (t) => {
  await withLibcoapServer(t, [], async (ep, peer) => {
    let r = await ep.request(peer, { code: Code.GET, path: "/" });
    assert.equal(r.code, Code.CONTENT);
    assert.match(toText(r.payload), /This is a test server made with libcoap/);
    r = await ep.request(peer, { code: Code.GET, path: "/time", confirmable: false });
    assert.equal(r.message.type, Type.NON);
    assert.match(toText(r.payload), /\d\d:\d\d:\d\d/);
    r = await ep.request(peer, { code: Code.GET, path: "/no/such" });
    assert.equal(r.code, Code.NOT_FOUND);
    r = await ep.request(peer, { code: Code.GET, path: "/async", query: ["1"] });
    assert.equal(r.code, Code.CONTENT);
    assert.equal(r.message.type, Type.CON, "the delayed answer comes as a separate CON response");
  });
});

test("libcoap: our client -> coap-server: Block1 PUT of 4000 bytes in 64-byte blocks, Block2 GET back", async (t) => {
  await withLibcoapServer(t, ["-d", "10"], async (ep, peer) => {
    const body = toBytes(Buffer.from(prng(99).bytes(3000)).toString("base64"));
    let r = await ep.request(peer, { code: Code.PUT, path: "/big", payload: body, blockSzx: 2 });
    assert.ok(r.code === Code.CREATED || r.code === Code.CHANGED, `code ${r.code.toString(16)}`);
    r = await ep.request(peer, { code: Code.GET, path: "/big" });
    assert.equal(r.code, Code.CONTENT);
    assert.equal(toText(r.payload), toText(body));
    assert.ok(getOption(r.message, Opt.BLOCK2), "it came block-wise");
  });
});

test("libcoap: our client -> coap-server: observe /time (notifications every second), then cancel", async (t) => {
  await withLibcoapServer(t, [], async (ep, peer) => {
    const seqs: number[] = [];
    const o = await ep.observe(peer, { code: Code.GET, path: "/time" }, (r) => seqs.push(r.observe!));
    assert.ok(o.established);
    const t0 = Date.now();
    while (seqs.length < 2 && Date.now() - t0 < 3500) await sleep(50);
    assert.ok(seqs.length >= 2, `two notifications (${seqs})`);
    assert.ok(seqs[1] > seqs[0]);
    const fin = await o.cancel();
    assert.ok(fin && fin.code === Code.CONTENT);
    assert.equal(getUintOption(fin.message, Opt.OBSERVE), undefined, "the deregistration answer has no Observe");
  });
});

async function withOurServer(t: any, handler: (req: IncomingRequest) => any, body: (url: string, seen: IncomingRequest[]) => Promise<void>) {
  if (!requirePeer(t, coapBinary("client"))) return;
  const tr = new UdpTransport();
  const a = await tr.bind(0);
  const seen: IncomingRequest[] = [];
  const ep = new CoapEndpoint(tr, { separateResponseAfterMs: 100, blockSzx: 6 }, (req) => { seen.push(req); return handler(req); });
  try {
    await body(`coap://127.0.0.1:${a.port}`, seen);
  } finally {
    await ep.close();
    await tr.close();
  }
}

test("libcoap: coap-client -> our server: GET (piggybacked and NON), 4.04, a slow handler's separate response", async (t) => {
  await withOurServer(t, async (req) => {
    if (req.path === "/missing") return { code: Code.NOT_FOUND };
    if (req.path === "/slow") await sleep(300);
    return { code: Code.CONTENT, payload: toBytes(`hi ${req.path}`), contentFormat: 0 };
  }, async (url) => {
    let r = await runCoapClient(["-B", "3", "-m", "get", `${url}/a`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "hi /a");
    r = await runCoapClient(["-B", "3", "-N", "-m", "get", `${url}/b`]);
    assert.equal(r.stdout.trim(), "hi /b");
    r = await runCoapClient(["-B", "3", "-m", "get", `${url}/missing`]);
    assert.match(r.stdout + r.stderr, /4\.04/);
    r = await runCoapClient(["-B", "3", "-v", "7", "-m", "get", `${url}/slow`]);
    assert.match(r.stdout, /hi \/slow/);
    assert.match(r.stdout + r.stderr, /t:ACK c:0\.00/, "an empty ACK first");
  });
});

test("libcoap: coap-client -> our server: Block1 PUT -f (5000 bytes, -b 64) and Block2 GET (1024 and -b 64)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "srv-coap-"));
  const big = Buffer.from(prng(5).bytes(2250)).toString("base64"); // 3000 bytes
  try {
    await withOurServer(t, (req) => (req.code === Code.GET ? { code: Code.CONTENT, payload: toBytes(big) } : { code: Code.CHANGED }), async (url, seen) => {
      const body = Buffer.from(prng(6).bytes(3750)).toString("base64"); // 5000 bytes
      const file = join(dir, "body.txt");
      writeFileSync(file, body);
      let r = await runCoapClient(["-B", "5", "-b", "64", "-m", "put", "-f", file, `${url}/upload`]);
      assert.equal(r.code, 0, r.stderr);
      const put = seen.filter((s) => s.code === Code.PUT);
      assert.equal(put.length, 1, "the handler sees one reassembled request");
      assert.equal(toText(put[0].payload), body);
      r = await runCoapClient(["-B", "5", "-m", "get", `${url}/big`]);
      assert.equal(r.stdout.replace(/\n$/, ""), big);
      r = await runCoapClient(["-B", "5", "-b", "64", "-m", "get", `${url}/big`]);
      assert.equal(r.stdout.replace(/\n$/, ""), big);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Adversarial harness, CoAP / LwM2M side: after registration over DTLS-PSK
// the hostile peer (test/helpers/hostile-peer.ts) sends malformed and hostile
// CoAP in the authenticated session: bad options, block numbers at limits,
// observe storms, deeply nested SenML / CBOR / TLV, operations on the
// Security Object (/0), bootstrap operations outside a bootstrap session, and
// hostile answers to the device's own Register. Each case asserts the refusal
// (the CoAP code, a Reset, or silence where RFC 7252 says so), that the device
// still answers in the same session, and then (HostilePeer.recover) that it
// completes a fresh handshake, registers and serves a Read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { sharedPeer, casePassed } from "./helpers/adversarial-cases";
import { needs, profileHas } from "./helpers/profile";
import { HostilePeer, cat } from "./helpers/hostile-peer";
import { encodeMessage, Type, Opt, toBytes, toText, encodeUint, type CoapMessage, type CoapOption } from "../server/coap";

const code = (s: string) => { const [c, d] = s.split("."); return (Number(c) << 5) | Number(d); };
const str = (c: number) => `${c >> 5}.${String(c & 31).padStart(2, "0")}`;
const path = (p: string): CoapOption[] => p.split("/").filter(Boolean).map((s) => ({ number: Opt.URI_PATH, value: toBytes(s) }));
const opt = (number: number, value: Uint8Array | number[]): CoapOption => ({ number, value: Uint8Array.from(value) });
const uint = (number: number, v: number): CoapOption => ({ number, value: encodeUint(v) });
const block = (num: number, more: boolean, szx: number) => encodeUint((num << 4) | (more ? 8 : 0) | szx);
const CF = { TEXT: 0, LINK: 40, OPAQUE: 42, SENML_JSON: 110, SENML_CBOR: 112, TLV: 11542, LWM2M_JSON: 11543, LWM2M_CBOR: 11544 } as const;

/** Raw bytes as one CoAP message in the session; what the device sent back within `ms`. */
function raw(p: HostilePeer, bytes: Uint8Array, ms = 10_000): CoapMessage[] {
  const n = p.coapIn.length;
  p.sendRaw(bytes);
  p.run(ms, () => p.coapIn.length > n);
  p.run(50);
  return p.coapIn.slice(n);
}
/** A request built from parts (CON unless said), sent raw: the answers. */
function send(p: HostilePeer, m: Partial<CoapMessage> & { code: number }, ms?: number): CoapMessage[] {
  return raw(p, encodeMessage({ type: Type.CON, mid: p.nextMid(), token: p.nextToken(), options: [], payload: new Uint8Array(0), ...m }), ms);
}
function answer(p: HostilePeer, m: Partial<CoapMessage> & { code: number }): CoapMessage {
  const r = p.request(m, 30_000);
  assert.ok(r, "an answer");
  return r!;
}
const expectCode = (r: CoapMessage | null | undefined, c: string, what = "") => assert.equal(str(r?.code ?? -1), c, what);
/** The session still serves a Read (no new handshake needed). */
function stillServes(p: HostilePeer) {
  const h = p.countHandshakes();
  expectCode(p.get("/3/0/0", 0), "2.05", "the session still serves a Read");
  assert.equal(p.countHandshakes(), h, "in the same session");
}
const isReset = (ms: CoapMessage[]) => ms.length === 1 && ms[0].type === Type.RST && ms[0].code === 0;

interface CoapCase { name: string; act: (p: HostilePeer) => void; todo?: string; needs?: string }
const cases: CoapCase[] = [];
const add = (group: string, list: CoapCase[]) => { for (const c of list) cases.push({ ...c, name: `${group}: ${c.name}` }); };

// raw header helpers: ver 1, type, tkl, code, mid
const hdr = (type: number, tkl: number, c: number, mid: number) => Uint8Array.of(0x40 | (type << 4) | tkl, c, mid >> 8, mid & 255);

// ---- options ----
add("options", [
  { name: "unknown critical option 9 -> 4.02", act: (p) => { expectCode(answer(p, { code: 1, options: [...path("/3/0/0"), opt(9, [1])] }), "4.02"); stillServes(p); } },
  { name: "unknown critical option 2049 (two-byte delta) -> 4.02", act: (p) => { expectCode(answer(p, { code: 1, options: [...path("/3/0/0"), opt(2049, [1])] }), "4.02"); stillServes(p); } },
  { name: "Proxy-Uri (35, critical, unsupported) -> 4.02 or 5.05", act: (p) => { assert.match(str(answer(p, { code: 1, options: [opt(35, [...toBytes("coap://x/3/0/0")])] }).code), /^(4\.02|5\.05)$/); stillServes(p); } },
  { name: "unknown elective option 10 is ignored -> 2.05", act: (p) => { expectCode(answer(p, { code: 1, options: [...path("/3/0/0"), opt(10, [1, 2, 3])] }), "2.05"); } },
  { name: "option delta nibble 15 without a payload marker -> Reset", act: (p) => { assert.ok(isReset(raw(p, cat(hdr(0, 0, 1, 0x7001), Uint8Array.of(0xf0, 1))))); stillServes(p); } },
  { name: "option length nibble 15 -> Reset", act: (p) => { assert.ok(isReset(raw(p, cat(hdr(0, 0, 1, 0x7002), Uint8Array.of(0xbf, 1, 2))))); stillServes(p); } },
  { name: "option length beyond the message -> Reset", act: (p) => { assert.ok(isReset(raw(p, cat(hdr(0, 0, 1, 0x7003), Uint8Array.of(0xb8, 0x33))))); stillServes(p); } },
  { name: "13-extended option delta cut off -> Reset", act: (p) => { assert.ok(isReset(raw(p, cat(hdr(0, 0, 1, 0x7004), Uint8Array.of(0xd0))))); stillServes(p); } },
  { name: "14-extended option length cut off -> Reset", act: (p) => { assert.ok(isReset(raw(p, cat(hdr(0, 0, 1, 0x7005), Uint8Array.of(0xbe, 0x01))))); stillServes(p); } },
  { name: "token length 9 (reserved) -> Reset", act: (p) => { assert.ok(isReset(raw(p, cat(hdr(0, 9, 1, 0x7006), new Uint8Array(9))))); stillServes(p); } },
  { name: "token length 15 with 3 bytes -> Reset", act: (p) => { assert.ok(isReset(raw(p, cat(hdr(0, 15, 1, 0x7007), new Uint8Array(3))))); stillServes(p); } },
  { name: "version 2 is silently ignored", act: (p) => { const b = encodeMessage({ type: Type.CON, code: 1, mid: 0x7008, token: Uint8Array.of(1), options: path("/3/0/0"), payload: new Uint8Array(0) }); b[0] = (b[0] & 0x3f) | 0x80; assert.deepEqual(raw(p, b, 3000), []); stillServes(p); } },
  { name: "payload marker without payload -> Reset", act: (p) => { assert.ok(isReset(raw(p, cat(hdr(0, 0, 1, 0x7009), Uint8Array.of(0xb1, 0x33, 0xff))))); stillServes(p); } },
  { name: "3-byte message -> silently ignored", act: (p) => { assert.deepEqual(raw(p, Uint8Array.of(0x40, 1, 0x70), 3000), []); stillServes(p); } },
  { name: "empty CON (CoAP ping) -> Reset", act: (p) => { const r = raw(p, hdr(0, 0, 0, 0x700a)); assert.ok(isReset(r)); assert.equal(r[0].mid, 0x700a); stillServes(p); } },
  { name: "empty CON with a token (format error) -> Reset", act: (p) => { assert.ok(isReset(raw(p, cat(hdr(0, 2, 0, 0x700b), Uint8Array.of(1, 2))))); stillServes(p); } },
  // RFC 7252 5.4.5: a supernumerary occurrence is treated like an unrecognized option: Content-Format is elective (ignored), Accept critical (4.02)
  { name: "Content-Format twice on a PUT: the second is ignored -> 2.04", act: (p) => { expectCode(answer(p, { code: 3, options: [...path("/1/0/1"), uint(Opt.CONTENT_FORMAT, 0), uint(Opt.CONTENT_FORMAT, 42)], payload: toBytes("3600") }), "2.04"); stillServes(p); } },
  { name: "Accept twice -> 4.02", act: (p) => { expectCode(answer(p, { code: 1, options: [...path("/3/0/0"), uint(Opt.ACCEPT, 0), uint(Opt.ACCEPT, 42)] }), "4.02"); stillServes(p); } },
  // RFC 7252 5.4.3/5.10: Uri-Path is 0-255 bytes; a longer one is an unrecognized critical option
  { name: "a 300-byte Uri-Path segment -> 4.02", act: (p) => { expectCode(answer(p, { code: 1, options: [opt(Opt.URI_PATH, new Uint8Array(300).fill(0x33))] }), "4.02"); stillServes(p); } },
  { name: "40 Uri-Path segments -> 4.04", act: (p) => { expectCode(answer(p, { code: 1, options: path(Array(40).fill("3").join("/")) }), "4.04"); stillServes(p); } },
  { name: "non-numeric Uri-Path 'abc' -> 4.04", act: (p) => { expectCode(answer(p, { code: 1, options: path("/abc") }), "4.04"); stillServes(p); } },
  { name: "Uri-Path 65536 (beyond 16 bits) -> 4.04", act: (p) => { expectCode(answer(p, { code: 1, options: path("/65536") }), "4.04"); stillServes(p); } },
  { name: "Uri-Path '-1' -> 4.04", act: (p) => { expectCode(answer(p, { code: 1, options: path("/3/-1") }), "4.04"); stillServes(p); } },
  { name: "Uri-Path '3/00' (leading zero) -> 4.04 or 2.05, never a crash", act: (p) => { assert.match(str(answer(p, { code: 1, options: path("/3/00/0") }).code), /^(4\.04|2\.05|4\.00)$/); stillServes(p); } },
  { name: "Accept 9999 (unknown format) -> 4.06", act: (p) => { expectCode(answer(p, { code: 1, options: [...path("/3/0/0"), uint(Opt.ACCEPT, 9999)] }), "4.06"); stillServes(p); } },
  { name: "PUT with Content-Format 9999 -> 4.15", act: (p) => { expectCode(answer(p, { code: 3, options: [...path("/1/0/1"), uint(Opt.CONTENT_FORMAT, 9999)], payload: toBytes("1") }), "4.15"); stillServes(p); } },
  { name: "method code 0.31 -> 4.05", act: (p) => { expectCode(answer(p, { code: 31, options: path("/3/0/0") }), "4.05"); stillServes(p); } },
  { name: "FETCH (0.05) -> 4.05", act: (p) => { expectCode(answer(p, { code: 5, options: path("/3/0/0") }), "4.05"); stillServes(p); } },
  { name: "a 2.05 response in a CON with an unknown token -> Reset", act: (p) => { assert.ok(isReset(send(p, { code: code("2.05"), payload: toBytes("x") }))); stillServes(p); } },
  { name: "a Reset for an unknown message ID is ignored", act: (p) => { assert.deepEqual(raw(p, hdr(3, 0, 0, 0x700c), 3000), []); stillServes(p); } },
  { name: "an ACK for an unknown message ID is ignored", act: (p) => { assert.deepEqual(raw(p, hdr(2, 0, 0, 0x700d), 3000), []); stillServes(p); } },
  { name: "NON GET -> NON 2.05", act: (p) => { const r = send(p, { type: Type.NON, code: 1, options: path("/3/0/0") }); assert.equal(r.length, 1); assert.equal(r[0].type, Type.NON); expectCode(r[0], "2.05"); } },
  { name: "the same CON twice -> the same answer twice (deduplication)", act: (p) => { const m = encodeMessage({ type: Type.CON, code: 1, mid: 0x700e, token: Uint8Array.of(9, 9), options: path("/3/0/0"), payload: new Uint8Array(0) }); const a = raw(p, m), b = raw(p, m); expectCode(a[0], "2.05"); assert.deepEqual(b[0]?.payload, a[0].payload); assert.equal(b[0].mid, 0x700e); } },
  { name: "Observe value of 4 bytes -> 4.02 or plain 2.05", act: (p) => { assert.match(str(answer(p, { code: 1, options: [opt(Opt.OBSERVE, [0, 0, 0, 0]), ...path("/3/0/0")] }).code), /^(4\.02|2\.05|4\.00)$/); stillServes(p); } },
  { name: "If-None-Match on a Read -> 2.05 or 4.02", act: (p) => { assert.match(str(answer(p, { code: 1, options: [opt(5, []), ...path("/3/0/0")] }).code), /^(2\.05|4\.02)$/); stillServes(p); } },
  { name: "Uri-Host and Uri-Port of another host -> answered or 4.02, never proxied", act: (p) => { assert.match(str(answer(p, { code: 1, options: [opt(3, [...toBytes("evil.example")]), uint(7, 1), ...path("/3/0/0")] }).code), /^(2\.05|4\.02)$/); stillServes(p); } },
]);

// ---- block numbers at limits ----
add("block", [
  { name: "Block2 num 2^20-1 on a Read -> 4.02 or 4.00", act: (p) => { assert.match(str(answer(p, { code: 1, options: [...path("/3/0"), opt(Opt.BLOCK2, block(0xfffff, false, 0))] }).code), /^4\.0[02]$/); stillServes(p); } },
  { name: "Block2 num beyond the end of the representation -> 4.02 or 4.00", act: (p) => { assert.match(str(answer(p, { code: 1, options: [...path("/3/0"), opt(Opt.BLOCK2, block(500, false, 0))] }).code), /^4\.0[02]$/); stillServes(p); } },
  { name: "Block2 szx 7 (reserved) -> 4.00 or 4.02", act: (p) => { assert.match(str(answer(p, { code: 1, options: [...path("/3/0"), opt(Opt.BLOCK2, [7])] }).code), /^4\.0[02]$/); stillServes(p); } },
  { name: "Block2 option of 4 bytes -> 4.02 or 4.00", act: (p) => { assert.match(str(answer(p, { code: 1, options: [...path("/3/0"), opt(Opt.BLOCK2, [0, 0, 0, 0x10])] }).code), /^4\.0[02]$/); stillServes(p); } },
  { name: "Block2 in 16-byte blocks reads the whole /3/0", act: (p) => {
    let all: Uint8Array = new Uint8Array(0);
    for (let n = 0; n < 200; n++) {
      // SenML-JSON where the profile has it (text: the endpoint name reads back), else SenML-CBOR
      const r = answer(p, { code: 1, options: [...path("/3/0"), uint(Opt.ACCEPT, profileHas("senml-json") ? CF.SENML_JSON : CF.SENML_CBOR), opt(Opt.BLOCK2, block(n, false, 0))] });
      expectCode(r, "2.05");
      all = cat(all, r.payload);
      const b = r.options.find((o) => o.number === Opt.BLOCK2)!.value;
      if (!(b[b.length - 1] & 8)) break;
    }
    assert.ok(all.length > 64 && toText(all).includes("lwm2m-wasm"), `${all.length} bytes`);
  } },
  { name: "Block1 num 2^20-1 on a Write -> 4.08", act: (p) => { expectCode(answer(p, { code: 3, options: [...path("/1/0/1"), uint(Opt.CONTENT_FORMAT, 0), opt(Opt.BLOCK1, block(0xfffff, false, 0))], payload: toBytes("3") }), "4.08"); stillServes(p); } },
  { name: "Block1 num 1 without num 0 -> 4.08", act: (p) => { expectCode(answer(p, { code: 3, options: [...path("/1/0/1"), uint(Opt.CONTENT_FORMAT, 0), opt(Opt.BLOCK1, block(1, true, 0))], payload: new Uint8Array(16) }), "4.08"); stillServes(p); } },
  { name: "Block1 szx 7 (reserved) -> 4.00 or 4.02", act: (p) => { assert.match(str(answer(p, { code: 3, options: [...path("/1/0/1"), uint(Opt.CONTENT_FORMAT, 0), opt(Opt.BLOCK1, [0x0f])], payload: new Uint8Array(16) }).code), /^4\.0[02]$/); stillServes(p); } },
  { name: "Block1 M=1 with a short block -> 4.00", act: (p) => { expectCode(answer(p, { code: 3, options: [...path("/1/0/1"), uint(Opt.CONTENT_FORMAT, 0), opt(Opt.BLOCK1, block(0, true, 0))], payload: new Uint8Array(5) }), "4.00"); stillServes(p); } },
  { name: "Block1 transfer left unfinished; a new one works", act: (p) => {
    expectCode(answer(p, { code: 3, options: [...path("/1/0/1"), uint(Opt.CONTENT_FORMAT, 0), opt(Opt.BLOCK1, block(0, true, 0))], payload: toBytes("1111111111111111") }), "2.31");
    expectCode(answer(p, { code: 3, options: [...path("/1/0/1"), uint(Opt.CONTENT_FORMAT, 0)], payload: toBytes("3600") }), "2.04");
    stillServes(p);
  } },
  { name: "Block1 with Size1 2^31 -> 4.13", act: (p) => { expectCode(answer(p, { code: 3, options: [...path("/1/0/1"), uint(Opt.CONTENT_FORMAT, 0), opt(Opt.BLOCK1, block(0, true, 0)), uint(60, 0x80000000)], payload: new Uint8Array(16) }), "4.13"); stillServes(p); } },
  { name: "Block1 beyond the receive buffer (64 blocks of 1024) -> 4.13", act: (p) => {
    let last = "";
    for (let n = 0; n < 64; n++) {
      last = str(answer(p, { code: 3, options: [...path("/3/0/14"), uint(Opt.CONTENT_FORMAT, 0), opt(Opt.BLOCK1, block(n, true, 6))], payload: new Uint8Array(1024).fill(0x41) }).code);
      if (last !== "2.31") break;
    }
    expectCode({ code: code(last) } as CoapMessage, "4.13");
    stillServes(p);
  } },
]);

// ---- observe storms ----
add("observe", [
  { name: "100 Observe registrations on one resource: each answered, only the latest is notified", act: (p) => {
    p.device.setResource(3, 0, 9, 50);
    const kept: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r = answer(p, { code: 1, options: [uint(Opt.OBSERVE, 0), ...path("/3/0/9")] });
      assert.match(str(r.code), /^(2\.05|5\.03)$/);
      if (r.options.some((o) => o.number === Opt.OBSERVE)) kept.push(Buffer.from(r.token).toString("hex"));
    }
    const n = p.coapIn.length;
    p.device.setResource(3, 0, 9, 51);
    p.run(60_000);
    const notified = new Set(p.coapIn.slice(n).filter((m) => m.code === code("2.05") && m.options.some((o) => o.number === Opt.OBSERVE)).map((m) => Buffer.from(m.token).toString("hex")));
    assert.ok(notified.size >= 1, "notifications");
    // one observation per server and path: each new registration replaces the one before (the table stays bounded)
    assert.deepEqual([...notified], [kept[kept.length - 1]], `${kept.length} confirmed, ${notified.size} notified`);
    stillServes(p);
  } },
  { name: "Observe on 60 paths, then every notification answered with Reset", act: (p) => {
    p.device.setResource(3, 0, 9, 60);
    for (let i = 0; i < 60; i++) answer(p, { code: 1, options: [uint(Opt.OBSERVE, 0), ...path(["/3/0/9", "/3/0/0", "/3/0", "/1/0/1", "/3"][i % 5])] });
    const resets: Uint8Array[] = [];
    p.onNotification = (m) => { resets.push(m.token); return { type: Type.RST, code: 0, mid: m.mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }; };
    p.device.setResource(3, 0, 9, 61);
    p.run(120_000);
    const after = resets.length;
    p.device.setResource(3, 0, 9, 62);
    p.run(120_000);
    p.onNotification = null;
    assert.ok(after > 0, "notifications came and were reset");
    assert.ok(resets.length - after < after, `a Reset cancels the observation (RFC 7641 3.6): ${after} then ${resets.length - after}`);
    stillServes(p);
  } },
  { name: "Observe cancel (Observe 1) with an unknown token -> plain 2.05", act: (p) => { const r = answer(p, { code: 1, options: [uint(Opt.OBSERVE, 1), ...path("/3/0/0")] }); expectCode(r, "2.05"); assert.ok(!r.options.some((o) => o.number === Opt.OBSERVE)); } },
  { name: "Observe on /0/0/5 (the PSK) -> 4.04, no observation", act: (p) => { const r = answer(p, { code: 1, options: [uint(Opt.OBSERVE, 0), ...path("/0/0/5")] }); expectCode(r, "4.04"); assert.ok(!r.options.some((o) => o.number === Opt.OBSERVE)); } },
  { name: "Write-Attributes pmin=0 pmax=1 and 20 Observes on one resource, an hour of notifications", act: (p) => {
    p.device.setResource(3, 0, 9, 70);
    for (const q of ["pmin=0", "pmax=1"]) expectCode(answer(p, { code: 3, options: [...path("/3/0/9"), opt(Opt.URI_QUERY, [...toBytes(q)])] }), "2.04");
    for (let i = 0; i < 20; i++) answer(p, { code: 1, options: [uint(Opt.OBSERVE, 0), ...path("/3/0/9")] });
    const n = p.coapIn.length;
    p.run(3600_000);
    const count = p.coapIn.length - n;
    assert.ok(count >= 3000 && count < 3600 * 21, `${count} notifications in an hour (pmax=1)`);
    stillServes(p);
  } },
]);

// ---- deeply nested SenML / CBOR / TLV ----
const put = (p: HostilePeer, at: string, cf: number, payload: Uint8Array) => answer(p, { code: 3, options: [...path(at), uint(Opt.CONTENT_FORMAT, cf)], payload });
const post = (p: HostilePeer, at: string, cf: number, payload: Uint8Array) => answer(p, { code: 2, options: [...path(at), uint(Opt.CONTENT_FORMAT, cf)], payload });
const nested = (open: number, n: number, leaf: number[] = [0]) => Uint8Array.from([...Array(n).fill(open), ...leaf]);
add("nesting", [
  { name: "SenML-CBOR: 1000 nested arrays -> 4.00", act: (p) => { expectCode(put(p, "/1/0", CF.SENML_CBOR, nested(0x81, 1000)), "4.00"); stillServes(p); } },
  { name: "SenML-CBOR: 1000 nested maps -> 4.00", act: (p) => { expectCode(put(p, "/1/0", CF.SENML_CBOR, nested(0xa1, 1000).map((b, i, a) => (i === a.length - 1 ? 0 : b))), "4.00"); stillServes(p); } },
  { name: "SenML-CBOR: 1000 indefinite-length arrays, never closed -> 4.00", act: (p) => { expectCode(put(p, "/1/0", CF.SENML_CBOR, nested(0x9f, 1000)), "4.00"); stillServes(p); } },
  { name: "SenML-CBOR: 1000 nested tags -> 4.00", act: (p) => { expectCode(put(p, "/1/0", CF.SENML_CBOR, nested(0xc1, 1000)), "4.00"); stillServes(p); } },
  { name: "SenML-CBOR: an array of 2^32 elements announced -> 4.00", act: (p) => { expectCode(put(p, "/1/0", CF.SENML_CBOR, Uint8Array.of(0x9a, 0xff, 0xff, 0xff, 0xff, 0xa0)), "4.00"); stillServes(p); } },
  { name: "SenML-CBOR: a byte string of 2^63 bytes announced -> 4.00", act: (p) => { expectCode(put(p, "/1/0", CF.SENML_CBOR, Uint8Array.of(0x81, 0xa2, 0x00, 0x62, 0x2f, 0x31, 0x08, 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), "4.00"); stillServes(p); } },
  { name: "SenML-JSON: 500 nested arrays -> 4.00", needs: "senml-json", act: (p) => { expectCode(put(p, "/1/0", CF.SENML_JSON, toBytes("[".repeat(500) + "]".repeat(500))), "4.00"); stillServes(p); } },
  { name: "SenML-JSON: 1000 opening brackets -> 4.00", needs: "senml-json", act: (p) => { expectCode(put(p, "/1/0", CF.SENML_JSON, toBytes("[".repeat(1000))), "4.00"); stillServes(p); } },
  { name: "SenML-JSON: 200 nested objects -> 4.00", needs: "senml-json", act: (p) => { expectCode(put(p, "/1/0", CF.SENML_JSON, toBytes('{"a":'.repeat(200) + "1" + "}".repeat(200))), "4.00"); stillServes(p); } },
  { name: "SenML-JSON: unterminated string -> 4.00", needs: "senml-json", act: (p) => { expectCode(put(p, "/1/0", CF.SENML_JSON, toBytes('[{"n":"/1/0/1","v":')), "4.00"); stillServes(p); } },
  { name: "LwM2M-CBOR (not a write format here): 1000 nested maps -> 4.15", act: (p) => { expectCode(put(p, "/1/0", CF.LWM2M_CBOR, nested(0xa1, 1000, [0, 0])), "4.15"); stillServes(p); } },
  { name: "TLV: 500 nested object instances -> 4.00", act: (p) => { let b: Uint8Array = Uint8Array.of(0xc1, 1, 60); for (let i = 0; i < 500 && b.length < 60000; i++) b = cat(Uint8Array.of(0x10 | 0x08, 0, b.length & 255), b.length > 255 ? new Uint8Array(0) : b); expectCode(put(p, "/1/0", CF.TLV, b.slice(0, 1000)), "4.00"); stillServes(p); } },
  { name: "TLV: a length beyond the payload -> 4.00", act: (p) => { expectCode(put(p, "/1/0", CF.TLV, Uint8Array.of(0xc8, 1, 200, 1, 2)), "4.00"); stillServes(p); } },
  { name: "TLV: 24-bit length 0xffffff -> 4.00", act: (p) => { expectCode(put(p, "/1/0", CF.TLV, Uint8Array.of(0xd8, 1, 0xff, 0xff, 0xff, 1)), "4.00"); stillServes(p); } },
  { name: "SenML-CBOR Create on /3 with 1000 nested arrays -> 4.00 or 4.05", act: (p) => { assert.match(str(post(p, "/3", CF.SENML_CBOR, nested(0x81, 1000)).code), /^4\.0[05]$/); stillServes(p); } },
]);

// ---- operations on the Security Object (/0): SEC-2, invisible to LwM2M Servers ----
add("/0", [
  { name: "Read /0 -> 4.04", act: (p) => { expectCode(p.get("/0"), "4.04"); } },
  { name: "Read /0/0/5 (the secret key) -> 4.04, no bytes", act: (p) => { const r = p.get("/0/0/5"); expectCode(r, "4.04"); assert.equal(r!.payload.length === 0 || !toText(r!.payload).includes("8b7c"), true); } },
  { name: "Read /0/0 as SenML-CBOR -> 4.04", act: (p) => { expectCode(p.get("/0/0", CF.SENML_CBOR), "4.04"); } },
  { name: "Discover /0 -> 4.04", act: (p) => { expectCode(p.get("/0", CF.LINK), "4.04"); } },
  { name: "Write /0/0/5 -> 4.04", act: (p) => { expectCode(put(p, "/0/0/5", CF.OPAQUE, new Uint8Array(16)), "4.04"); stillServes(p); } },
  { name: "Write /0/0/0 (the server URI) -> 4.04", act: (p) => { expectCode(put(p, "/0/0/0", CF.TEXT, toBytes("coaps://evil.example")), "4.04"); stillServes(p); } },
  { name: "Create /0 -> 4.04", act: (p) => { expectCode(post(p, "/0", CF.TLV, Uint8Array.of(0xc1, 2, 3)), "4.04"); stillServes(p); } },
  { name: "Delete /0/0 -> 4.04", act: (p) => { expectCode(answer(p, { code: 4, options: path("/0/0") }), "4.04"); stillServes(p); } },
  { name: "Execute /0/0/1 -> 4.04", act: (p) => { expectCode(answer(p, { code: 2, options: path("/0/0/1") }), "4.04"); stillServes(p); } },
  { name: "Write-Attributes on /0 -> 4.04", act: (p) => { expectCode(answer(p, { code: 3, options: [...path("/0"), opt(Opt.URI_QUERY, [...toBytes("pmin=1")])] }), "4.04"); } },
]);

// ---- bootstrap operations outside a bootstrap session ----
add("bootstrap", [
  { name: "Bootstrap-Delete (DELETE /) from the LwM2M Server -> 4.05", act: (p) => { expectCode(answer(p, { code: 4 }), "4.05"); stillServes(p); } },
  { name: "Bootstrap-Finish (POST /bs) from the LwM2M Server -> 4.04", act: (p) => { expectCode(answer(p, { code: 2, options: path("/bs") }), "4.04"); stillServes(p); } },
  { name: "Bootstrap-Write of a Security instance (PUT /0/1) -> 4.04", act: (p) => { expectCode(put(p, "/0/1", CF.TLV, Uint8Array.of(0xc8, 0, 10, ...toBytes("coap://x:1"))), "4.04"); stillServes(p); } },
  { name: "Bootstrap-Discover (GET / as link-format) -> 4.05 or 4.00", act: (p) => { assert.match(str(answer(p, { code: 1, options: [uint(Opt.ACCEPT, CF.LINK)] }).code), /^4\.0[05]$/); stillServes(p); } },
  { name: "Bootstrap-Read of /1 is an ordinary Read -> 2.05", act: (p) => { expectCode(p.get("/1", CF.SENML_CBOR), "2.05"); } },
  { name: "Write of the whole /1 Object -> 4.05", act: (p) => { expectCode(put(p, "/1", CF.TLV, Uint8Array.of(0x08, 0, 3, 0xc1, 0, 1)), "4.05"); stillServes(p); } },
  { name: "Write of the Short Server ID /1/0/0 (read-only) -> 4.05", act: (p) => { expectCode(put(p, "/1/0/0", CF.TEXT, toBytes("99")), "4.05"); stillServes(p); } },
  { name: "Delete of /1/0 from the LwM2M Server -> 4.05", act: (p) => { expectCode(answer(p, { code: 4, options: path("/1/0") }), "4.05"); stillServes(p); } },
  { name: "Bootstrap-Request trigger /1/0/9 is executable and does not drop the session at once", act: (p) => { assert.match(str(answer(p, { code: 2, options: path("/1/0/9") }).code), /^(2\.04|4\.05|4\.04)$/); } },
]);

// ---- hostile answers to the device's Register ----
function registerAnswer(p: HostilePeer, f: (m: CoapMessage) => CoapMessage | null): { failed: boolean } {
  const failedBefore = p.device.events.filter((e) => e.name === "registrationFailed").length;
  let hits = 0;
  p.onRequest = (m) => { if (m.code === 2) { hits++; return f(m); } return p.honestAnswer(m); };
  const logs = p.restartSession(p.toDevice, p.toServer);
  p.run(120_000, () => hits > 0 && p.device.logs.slice(logs).some((l) => /registration: .*(failed|registered)/i.test(l.text)));
  p.run(5000);
  assert.ok(hits > 0, "the device sent Register");
  p.onRequest = null;
  return { failed: p.device.events.filter((e) => e.name === "registrationFailed").length > failedBefore || p.device.logs.slice(logs).some((l) => /attempt \d+ failed/.test(l.text)) };
}
const ack = (m: CoapMessage, c: string, options: CoapOption[] = []): CoapMessage => ({ type: Type.ACK, code: code(c), mid: m.mid, token: m.token, options, payload: new Uint8Array(0) });
const loc = (...segs: string[]) => segs.map((s) => ({ number: Opt.LOCATION_PATH, value: toBytes(s) }));
add("register", [
  { name: "Register answered 4.03 -> the attempt fails", act: (p) => { assert.ok(registerAnswer(p, (m) => ack(m, "4.03")).failed); } },
  { name: "Register answered 2.05 (not 2.01) -> the attempt fails", act: (p) => { assert.ok(registerAnswer(p, (m) => ack(m, "2.05", loc("rd", "1"))).failed); } },
  { name: "Register answered 2.01 without Location-Path -> the attempt fails", act: (p) => { assert.ok(registerAnswer(p, (m) => ack(m, "2.01")).failed); } },
  { name: "Register answered with another token -> not taken", act: (p) => { assert.ok(registerAnswer(p, (m) => ({ ...ack(m, "2.01", loc("rd", "1")), token: Uint8Array.of(0xee) })).failed); } },
  { name: "Register answered with a 300-byte Location-Path -> the attempt fails", act: (p) => { assert.ok(registerAnswer(p, (m) => ack(m, "2.01", [{ number: Opt.LOCATION_PATH, value: new Uint8Array(300).fill(0x61) }])).failed); } },
  { name: "Register answered with 30 Location-Path segments -> the attempt fails", act: (p) => { assert.ok(registerAnswer(p, (m) => ack(m, "2.01", loc(...Array(30).fill("rd")))).failed); } },
  { name: "Register answered with Location-Path '..' -> the attempt fails", act: (p) => { assert.ok(registerAnswer(p, (m) => ack(m, "2.01", loc("rd", ".."))).failed); } },
  { name: "Register answered with Location-Path '.' -> the attempt fails", act: (p) => { assert.ok(registerAnswer(p, (m) => ack(m, "2.01", loc("."))).failed); } },
  { name: "Register never answered -> retransmitted, then the attempt fails", act: (p) => { assert.ok(registerAnswer(p, () => null).failed); } },
  { name: "Register answered with Reset -> the attempt fails", act: (p) => { assert.ok(registerAnswer(p, (m) => ({ type: Type.RST, code: 0, mid: m.mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) })).failed); } },
]);

// ---- conformance cases of issue 7's defect list ----
add("defect", [
  { name: "two requests in one DTLS datagram: both answered", act: (p) => {
    const held: Uint8Array[] = [];
    p.toDevice = (d) => { held.push(d.data); return []; };
    const a = p.nextToken(), b = p.nextToken();
    const n = p.coapIn.length;
    p.sendRaw(encodeMessage({ type: Type.CON, code: 1, mid: p.nextMid(), token: a, options: path("/3/0/0"), payload: new Uint8Array(0) }));
    p.sendRaw(encodeMessage({ type: Type.CON, code: 1, mid: p.nextMid(), token: b, options: path("/3/0/1"), payload: new Uint8Array(0) }));
    p.toDevice = null;
    assert.equal(held.length, 2);
    p.inject(cat(...held));
    p.run(2000);
    const got = p.coapIn.slice(n).map((m) => Buffer.from(m.token).toString("hex"));
    assert.ok(got.includes(Buffer.from(a).toString("hex")), "the first request is answered");
    assert.ok(got.includes(Buffer.from(b).toString("hex")), "the second request is answered");
  } },
  { name: "POST /1/0/1 without Content-Format -> 4.05", act: (p) => { expectCode(answer(p, { code: 2, options: path("/1/0/1"), payload: toBytes("3") }), "4.05"); } },
  // /3/0 has a writable Resource (13 Current Time): POST is a partial update, allowed, and only the format is missing (RFC 7252 §5.10.3: 4.15)
  { name: "POST /3/0 without Content-Format -> 4.15", act: (p) => { expectCode(answer(p, { code: 2, options: path("/3/0"), payload: toBytes("3") }), "4.15"); } },
]);

for (const c of cases) {
  test(c.name, c.todo ? { todo: c.todo } : c.needs ? needs(c.needs) : {}, async () => {
    const p = await sharedPeer();
    assert.ok(p.established, "a session");
    c.act(p);
    p.recover();
    casePassed();
  });
}

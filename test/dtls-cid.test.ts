// DTLS Connection ID (RFC 9146) as bad input for an implementation that does
// not negotiate it (issue 10 §3, "Bad input"): a tls12_cid record (content
// type 25) on a connection without a CID, a ClientHello offering a 255-byte
// CID, an unsolicited connection_id extension in a ServerHello. Each is
// dropped or refused with the RFC's alert, counted, and never traps; the
// connection goes on where the RFC lets it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DtlsClient, DtlsServer, Suite, ConnState, DtlsError, DtlsEvent, AlertDescription, pairHandshake } from "./helpers/dtls-harness";

const KEY = "10.0.0.9:5684";
const PSK = { identity: "cid-test", key: Buffer.from("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "hex") };
const TLS12_CID = 25; // RFC 9146 3
const EXT_CONNECTION_ID = 54; // RFC 9146 3

/** A DTLSCiphertext with a CID (RFC 9146 4): type 25, version, epoch, sequence, cid, length, fragment. */
function cidRecord(epoch: number, seq: number, cid: Buffer, fragment: Buffer): Buffer {
  const h = Buffer.alloc(11);
  h[0] = TLS12_CID; h.writeUInt16BE(0xfefd, 1); h.writeUInt16BE(epoch, 3); h.writeUIntBE(seq, 5, 6);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(fragment.length);
  return Buffer.concat([h, cid, len, fragment]);
}

function established() {
  const c = new DtlsClient().configure({ psk: PSK, suites: Suite.PskCcm8 });
  const s = new DtlsServer().configure({ psk: PSK, suites: Suite.PskCcm8 });
  pairHandshake(c, s, { key: KEY });
  const p = s.peer(KEY)!;
  assert.equal(c.state, ConnState.Established, c.describe());
  assert.equal(s.state(p), ConnState.Established, s.describe(p));
  return { c, s, p };
}

/** Application data still flows both ways after the bad input. */
function stillUp(c: DtlsClient, s: DtlsServer, p: ReturnType<typeof established>["p"]) {
  assert.equal(c.sendData("ping", 2000), 0);
  for (const d of c.drain()) s.datagram(KEY, d, 2000);
  assert.equal(Buffer.from(p.appData.at(-1)!).toString(), "ping");
  const [r, out] = s.send(p, "pong", 2000);
  assert.equal(r, 0);
  for (const d of out) c.deliver(d, 2000);
  assert.equal(Buffer.from(c.appData.at(-1)!).toString(), "pong");
}

for (const cidLen of [0, 8, 255]) {
  test(`client: a tls12_cid record with a ${cidLen}-byte CID on a connection that negotiated none is dropped and counted, no trap`, () => {
    const { c, s, p } = established();
    const before = c.stats().recordsDropped;
    c.deliver(cidRecord(1, 5, Buffer.alloc(cidLen, 0xc1), Buffer.alloc(40, 0x17)), 1500);
    assert.equal(c.stats().recordsDropped, before + 1);
    assert.equal(c.state, ConnState.Established, c.describe());
    assert.ok(!c.has(DtlsEvent.AlertSent), c.describe());
    stillUp(c, s, p);
  });

  test(`server role: a tls12_cid record with a ${cidLen}-byte CID on a connection that negotiated none is dropped and counted, no trap`, () => {
    const { c, s, p } = established();
    const before = s.stats(p).recordsDropped;
    assert.deepEqual(s.datagram(KEY, cidRecord(1, 5, Buffer.alloc(cidLen, 0xc2), Buffer.alloc(40, 0x17)), 1500), []);
    assert.equal(s.stats(p).recordsDropped, before + 1);
    assert.equal(s.state(p), ConnState.Established, s.describe(p));
    stillUp(c, s, p);
  });
}

/** The extensions of a ServerHello body (after version, random, session_id, suite, compression). */
function serverHelloExtensions(d: Uint8Array): number[] {
  const b = Buffer.from(d);
  assert.equal(b[0], 22);
  assert.equal(b[13], 2, "a ServerHello first");
  let o = 13 + 12 + 2 + 32;
  o += 1 + b[o]; // session_id
  o += 2 + 1; // cipher_suite, compression_method
  const end = o + 2 + b.readUInt16BE(o);
  const types: number[] = [];
  for (o += 2; o < end; o += 4 + b.readUInt16BE(o + 2)) types.push(b.readUInt16BE(o));
  return types;
}

/** A ClientHello for PSK-AES128-CCM8 with extended_master_secret and connection_id carrying `cid`. */
function clientHelloWithCid(cid: Buffer, cookie: Buffer, seq: number): Buffer {
  const ext = (type: number, data: Buffer) => {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(type); h.writeUInt16BE(data.length, 2);
    return Buffer.concat([h, data]);
  };
  const exts = Buffer.concat([ext(0x17, Buffer.alloc(0)), ext(EXT_CONNECTION_ID, Buffer.concat([Buffer.from([cid.length]), cid]))]);
  const extLen = Buffer.alloc(2);
  extLen.writeUInt16BE(exts.length);
  const body = Buffer.concat([
    Buffer.from([0xfe, 0xfd]), Buffer.alloc(32, 0x42), Buffer.from([0]), Buffer.from([cookie.length]), cookie,
    Buffer.from([0, 2, 0xc0, 0xa8]), Buffer.from([1, 0]), extLen, exts,
  ]);
  const hs = Buffer.alloc(12);
  hs[0] = 1; hs.writeUIntBE(body.length, 1, 3); hs.writeUInt16BE(seq, 4); hs.writeUIntBE(0, 6, 3); hs.writeUIntBE(body.length, 9, 3);
  const rec = Buffer.alloc(13);
  rec[0] = 22; rec.writeUInt16BE(0xfefd, 1); rec.writeUIntBE(seq, 5, 6); rec.writeUInt16BE(hs.length + body.length, 11);
  return Buffer.concat([rec, hs, body]);
}

for (const cidLen of [0, 4, 255]) {
  test(`server role: a ClientHello offering connection_id with a ${cidLen}-byte CID is answered without the extension (not negotiated), no trap`, () => {
    const s = new DtlsServer().configure({ psk: PSK, suites: Suite.PskCcm8 });
    const cid = Buffer.alloc(cidLen, 0x3c);
    const hvr = s.datagram(KEY, clientHelloWithCid(cid, Buffer.alloc(0), 0), 1000);
    assert.equal(hvr.length, 1, "a HelloVerifyRequest");
    const h = Buffer.from(hvr[0]);
    assert.equal(h[13], 3);
    const cookie = h.subarray(13 + 12 + 3, 13 + 12 + 3 + h[13 + 12 + 2]);
    const flight = s.datagram(KEY, clientHelloWithCid(cid, cookie, 1), 1001);
    assert.ok(flight.length > 0, `the ServerHello flight: ${s.describe(s.peer(KEY))}`);
    const types = serverHelloExtensions(flight[0]);
    assert.ok(types.includes(0x17), `extended_master_secret echoed: ${types}`);
    assert.ok(!types.includes(EXT_CONNECTION_ID), `no connection_id in the ServerHello: ${types}`);
    assert.equal(s.state(s.peer(KEY)!), ConnState.WaitClientKeyExchange);
  });
}

test("client: a ServerHello with a connection_id extension it did not offer is refused (unsupported_extension), no trap", () => {
  const c = new DtlsClient().configure({ psk: PSK, suites: Suite.PskCcm8 });
  const s = new DtlsServer().configure({ psk: PSK, suites: Suite.PskCcm8 });
  assert.equal(c.connect(1000), 0);
  let toServer = c.drain();
  let done = false;
  for (let round = 0; round < 4 && !done; round++) {
    const toClient = toServer.flatMap((d) => s.datagram(KEY, d, 1000));
    toServer = [];
    for (const d of toClient) {
      const b = Buffer.from(d);
      if (b[13] === 2) {
        // append connection_id (cid of 4 bytes) to the ServerHello's extensions; fix the three lengths
        const extra = Buffer.from([0, EXT_CONNECTION_ID, 0, 5, 4, 1, 2, 3, 4]);
        const shLen = b.readUIntBE(14, 3);
        let o = 13 + 12 + 2 + 32;
        o += 1 + b[o] + 3;
        const extEnd = o + 2 + b.readUInt16BE(o);
        const out = Buffer.concat([b.subarray(0, extEnd), extra, b.subarray(extEnd)]);
        out.writeUInt16BE(b.readUInt16BE(o) + extra.length, o);
        out.writeUIntBE(shLen + extra.length, 14, 3);
        out.writeUIntBE(shLen + extra.length, 22, 3);
        out.writeUInt16BE(b.readUInt16BE(11) + extra.length, 11);
        c.deliver(out, 1001);
        done = true;
        break;
      }
      toServer.push(...c.deliver(d, 1000));
    }
  }
  assert.ok(done, "a ServerHello went by");
  assert.equal(c.state, ConnState.Closed, c.describe());
  assert.equal(c.reason, DtlsError.ExtensionNotOffered, c.describe());
  assert.ok(c.sent.at(-1)![0] === 21 && c.sent.at(-1)![14] === AlertDescription.unsupported_extension, "unsupported_extension alert sent");
});

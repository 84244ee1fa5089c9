// The resumption ClientHello offers only what a resumption needs (issue 10,
// handshake bytes): RFC 5246 7.4.1.2 asks for at least the session's cipher
// suite, so it offers only that one, and with a PSK session none of the ECC
// extensions (supported_groups, ec_point_formats: RFC 8422 5.1, needed only
// with ECC suites); extended_master_secret stays (RFC 7627 5.3). Our client
// against our server role; the full hello (control) offers every PSK suite
// and the ECC extensions for ECDHE-PSK. Interop of the cut: the OpenSSL and
// GnuTLS resumption tests (dtls-openssl, dtls-session-persist, probe-resume).
import { test } from "node:test";
import assert from "node:assert/strict";
import { DtlsClient, DtlsServer, Suite, ConnState, pairHandshake } from "./helpers/dtls-harness";

const ID = "resume-hello";
const PSK = Buffer.from("b0b1b2b3b4b5b6b7b8b9babbbcbdbebf", "hex");

/** Cipher suites and extension types of the ClientHello in a datagram (one unfragmented record). */
function helloOf(d: Uint8Array): { suites: number[]; exts: number[]; sidLen: number } {
  const b = Buffer.from(d);
  assert.equal(b[0], 22);
  assert.equal(b[13], 1, "ClientHello");
  let o = 13 + 12 + 2 + 32;
  const sidLen = b[o]; o += 1 + sidLen;
  o += 1 + b[o]; // cookie
  const n = b.readUInt16BE(o); o += 2;
  const suites: number[] = [];
  for (let i = 0; i < n; i += 2) suites.push(b.readUInt16BE(o + i));
  o += n;
  o += 1 + b[o]; // compression
  const end = o + 2 + b.readUInt16BE(o); o += 2;
  const exts: number[] = [];
  while (o < end) { exts.push(b.readUInt16BE(o)); o += 4 + b.readUInt16BE(o + 2); }
  return { suites, exts, sidLen };
}

test("a resumption ClientHello offers only the session's suite and no ECC extensions; the full one offers every PSK suite with them", () => {
  const c = new DtlsClient().configure({ suites: Suite.PskCcm8 | Suite.PskCbc | Suite.EcdhePskCbc, psk: { identity: ID, key: PSK } }, true);
  const s = new DtlsServer().configure({ suites: Suite.All, psk: { lookup: (id: Uint8Array) => (Buffer.from(id).toString("utf8") === ID ? PSK : undefined) }, sessionCache: 4 });
  const full = pairHandshake(c, s);
  assert.equal(c.state, ConnState.Established, c.describe());
  const h1 = helloOf(full[0].d);
  assert.deepEqual(h1.suites.filter((x) => x !== 0x00ff).sort(), [0x00ae, 0xc037, 0xc0a8].sort());
  assert.ok(h1.exts.includes(10) && h1.exts.includes(11), `full hello: supported_groups and ec_point_formats for ECDHE-PSK: ${h1.exts}`);
  c.reset();
  const log = pairHandshake(c, s, { key: "10.0.0.1:5685" });
  assert.ok(c.resumed, "abbreviated");
  const h2 = helloOf(log[0].d);
  assert.equal(h2.sidLen, 32, "offers the session");
  assert.deepEqual(h2.suites.filter((x) => x !== 0x00ff), [0xc0a8], "only the session's suite");
  assert.ok(!h2.exts.includes(10) && !h2.exts.includes(11), `no ECC extensions: ${h2.exts}`);
  assert.ok(h2.exts.includes(23), "extended_master_secret (RFC 7627 5.3)");
  // 2 suites (4 B) and the two ECC extensions (8 + 6 B) fewer; the 32-byte session ID more
  assert.equal(log[0].d.length, full[0].d.length + 32 - 18, `${log[0].d.length} B vs ${full[0].d.length} B`);
});

test("a client that asks for tickets: a server that issued none is not asked again when its session is resumed by ID (RFC 5077 3.1)", () => {
  const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: ID, key: PSK }, tickets: true }, true);
  const s = new DtlsServer().configure({ suites: Suite.All, psk: { lookup: (id: Uint8Array) => (Buffer.from(id).toString("utf8") === ID ? PSK : undefined) }, sessionCache: 4 });
  const full = pairHandshake(c, s);
  assert.equal(c.state, ConnState.Established, c.describe());
  assert.ok(helloOf(full[0].d).exts.includes(35), "the full hello asks for a ticket (empty SessionTicket)");
  assert.equal(c.x.sessionTicketLen(), 0, "our server role issues none");
  c.reset();
  const log = pairHandshake(c, s, { key: "10.0.0.1:5686" });
  assert.ok(c.resumed, "resumed by session ID");
  const h = helloOf(log[0].d);
  assert.equal(h.sidLen, 32);
  assert.ok(!h.exts.includes(35), `no SessionTicket: ${h.exts}`);
  assert.equal(log[0].d.length, full[0].d.length + 32 - 4);
});

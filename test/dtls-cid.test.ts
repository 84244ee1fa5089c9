// DTLS Connection ID (RFC 9146), both roles (issue 10 §3):
// - negotiation (extension 54) between our client and our server role, CID
//   lengths 0..8 each way, tls12_cid records (content type 25) on the wire
//   carrying the right CID, application data both ways;
// - tshark (Wireshark's own RFC 9146 code) as the oracle: with our key log it
//   decrypts the tls12_cid records, which it can only do when our record
//   header and RFC 9146 5 additional data are right; control: a flipped bit
//   of the master secret and nothing decrypts;
// - NAT rebinding: the client's records from a new address reach the same
//   connection by its CID, no handshake, and the address moves;
// - bad input, without and with a negotiated CID: a tls12_cid record on a
//   connection without a CID, with an unknown CID, a record without the CID
//   we asked for, a 255-byte CID in either hello, an unsolicited
//   connection_id in a ServerHello: dropped or refused, counted, no trap.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import dgram from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requirePeer } from "./helpers/peers";
import { DtlsTransport, type PeerInfo } from "../server/transport";
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

for (const [cidLen, serverCid] of [[0, undefined], [4, undefined], [255, undefined], [33, 8], [255, 8]] as [number, number | undefined][]) {
  test(`server role${serverCid === undefined ? " without CIDs" : " with CIDs"}: a ClientHello offering connection_id with a ${cidLen}-byte CID is answered without the extension (not negotiated), no trap`, () => {
    const s = new DtlsServer().configure({ psk: PSK, suites: Suite.PskCcm8, cid: serverCid });
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

// ---- negotiated ----

function cidPair(clientCid: number, serverCid: number, opts: { keyLog?: boolean } = {}) {
  const c = new DtlsClient().configure({ psk: PSK, suites: Suite.PskCcm8, cid: clientCid, keyLog: opts.keyLog });
  const s = new DtlsServer().configure({ psk: PSK, suites: Suite.PskCcm8, cid: serverCid });
  const log = pairHandshake(c, s, { key: KEY });
  const p = s.peer(KEY)!;
  assert.equal(c.state, ConnState.Established, c.describe());
  assert.equal(s.state(p), ConnState.Established, s.describe(p));
  return { c, s, p, log };
}

for (const [clientCid, serverCid] of [[0, 8], [8, 4], [4, 0], [32, 32]]) {
  test(`CID negotiated between our client (CID of ${clientCid} B) and our server role (${serverCid} B): tls12_cid records carry the peer's CID, data both ways`, () => {
    const { c, s, p } = cidPair(clientCid, serverCid);
    const cids = c.cids();
    assert.ok(cids, "the client negotiated a CID");
    assert.equal(cids.own.length, clientCid);
    assert.deepEqual(Buffer.from(cids.peer), Buffer.from(s.ownCid(p)!), "the client puts the server's CID in its records");
    assert.equal(s.ownCid(p)!.length, serverCid);
    assert.equal(c.sendData("ping", 2000), 0);
    const up = c.drain();
    assert.equal(up.length, 1);
    if (serverCid > 0) {
      assert.equal(up[0][0], 25, "tls12_cid");
      assert.deepEqual(Buffer.from(up[0].subarray(11, 11 + serverCid)), Buffer.from(s.ownCid(p)!));
    } else {
      assert.equal(up[0][0], 23, "a zero-length CID: plain records (RFC 9146 3)");
    }
    s.datagram(KEY, up[0], 2000);
    assert.equal(Buffer.from(p.appData.at(-1)!).toString(), "ping");
    const [r, down] = s.send(p, "pong", 2000);
    assert.equal(r, 0);
    if (clientCid > 0) {
      assert.equal(down[0][0], 25);
      assert.deepEqual(Buffer.from(down[0].subarray(11, 11 + clientCid)), Buffer.from(cids.own));
    } else {
      assert.equal(down[0][0], 23);
    }
    for (const d of down) c.deliver(d, 2000);
    assert.equal(Buffer.from(c.appData.at(-1)!).toString(), "pong");
    assert.equal(c.stats().cidDropped + s.stats(p).cidDropped, 0);
  });
}

test("no CID with a CBC suite: the client does not offer it when it offers a CBC suite, the server does not accept it for one", () => {
  const c = new DtlsClient().configure({ psk: PSK, suites: Suite.PskCcm8 | Suite.PskCbc, cid: 4 });
  const s = new DtlsServer().configure({ psk: PSK, suites: Suite.PskCbc | Suite.PskCcm8, cid: 4 });
  pairHandshake(c, s, { key: KEY });
  assert.equal(c.state, ConnState.Established, c.describe());
  assert.equal(c.cids(), null);
  assert.equal(s.ownCid(s.peer(KEY)!), null);
});

test("NAT rebinding: the client's records from a new source port reach the same connection by its CID, no handshake, the address moves", () => {
  const { c, s, p } = cidPair(0, 8);
  const moved = "10.0.0.9:61000";
  assert.equal(c.sendData("after rebinding", 3000), 0);
  for (const d of c.drain()) assert.deepEqual(s.datagram(moved, d, 3000), []);
  assert.equal(Buffer.from(p.appData.at(-1)!).toString(), "after rebinding");
  assert.equal(s.history.length, 1, "no new handshake");
  assert.equal(p.key, moved, "the connection now answers the new address");
  assert.equal(s.state(p), ConnState.Established);
  assert.equal(s.helloVerifies, 1, "only the first handshake's cookie exchange");
});

test("NAT rebinding refused for a record that does not authenticate: the address stays", () => {
  const { c, s, p } = cidPair(0, 8);
  assert.equal(c.sendData("x", 3000), 0);
  const d = Buffer.from(c.drain()[0]);
  d[d.length - 1] ^= 1; // the CCM tag
  const before = s.stats(p).authFailures;
  s.datagram("10.0.0.66:1234", d, 3000);
  assert.equal(s.stats(p).authFailures, before + 1);
  assert.equal(p.key, KEY);
});

for (const role of ["client", "server role"] as const) {
  test(`${role}, CID negotiated: a tls12_cid record with an unknown CID, and a record without our CID, are dropped and counted, no trap`, () => {
    const { c, s, p } = cidPair(8, 8);
    const stats = () => (role === "client" ? c.stats() : s.stats(p));
    const deliver = (d: Uint8Array) => (role === "client" ? c.deliver(d, 2500) : s.datagram(KEY, d, 2500));
    // a genuine record of the peer, then the same with one CID byte changed
    const genuine = role === "client" ? Buffer.from(s.send(p, "g", 2500)[1][0]) : (c.sendData("g", 2500), Buffer.from(c.drain()[0]));
    const wrongCid = Buffer.from(genuine);
    wrongCid[11] ^= 0x80;
    const b0 = stats();
    deliver(wrongCid);
    assert.equal(stats().cidDropped, b0.cidDropped + 1, "unknown CID counted");
    assert.equal(stats().authFailures, b0.authFailures, "not even decrypted");
    // an application_data record (type 23) at epoch 1: our CID is missing
    const plain = cidRecord(1, 99, Buffer.alloc(0), Buffer.alloc(30, 1));
    plain[0] = 23;
    deliver(plain);
    assert.equal(stats().cidDropped, b0.cidDropped + 2, "record without our CID counted");
    deliver(Buffer.from(genuine));
    const got = role === "client" ? c.appData : p.appData;
    assert.equal(Buffer.from(got.at(-1)!).toString(), "g", "the genuine record still goes through");
    // RFC 6347 4.1.2.6: the same record again is a replay
    const n = got.length, replays = stats().replaysDropped;
    deliver(genuine);
    assert.equal(stats().replaysDropped, replays + 1);
    assert.equal(got.length, n, "delivered once");
    assert.equal(role === "client" ? c.state : s.state(p), ConnState.Established);
  });
}

test("client: a ServerHello with a 255-byte CID is refused (illegal_parameter), no trap", () => {
  const c = new DtlsClient().configure({ psk: PSK, suites: Suite.PskCcm8, cid: 4 });
  const s = new DtlsServer().configure({ psk: PSK, suites: Suite.PskCcm8 }); // echoes no CID: we add one
  assert.equal(c.connect(1000), 0);
  let toServer = c.drain();
  let done = false;
  for (let round = 0; round < 4 && !done; round++) {
    const toClient = toServer.flatMap((d) => s.datagram(KEY, d, 1000));
    toServer = [];
    for (const d of toClient) {
      if (d[13] === 2) {
        c.deliver(withServerHelloExtension(Buffer.from(d), EXT_CONNECTION_ID, Buffer.concat([Buffer.from([255]), Buffer.alloc(255, 9)])), 1001);
        done = true;
        break;
      }
      toServer.push(...c.deliver(d, 1000));
    }
  }
  assert.ok(done);
  assert.equal(c.state, ConnState.Closed, c.describe());
  assert.equal(c.reason, DtlsError.IllegalExtension, c.describe());
});

/** The ServerHello record d (alone in its datagram) with one more extension; the three lengths fixed. */
function withServerHelloExtension(b: Buffer, type: number, data: Buffer): Buffer {
  const extra = Buffer.concat([Buffer.from([type >> 8, type & 255, data.length >> 8, data.length & 255]), data]);
  const shLen = b.readUIntBE(14, 3);
  let o = 13 + 12 + 2 + 32;
  o += 1 + b[o] + 3;
  const extEnd = o + 2 + b.readUInt16BE(o);
  const out = Buffer.concat([b.subarray(0, extEnd), extra, b.subarray(extEnd)]);
  out.writeUInt16BE(b.readUInt16BE(o) + extra.length, o);
  out.writeUIntBE(shLen + extra.length, 14, 3);
  out.writeUIntBE(shLen + extra.length, 22, 3);
  out.writeUInt16BE(b.readUInt16BE(11) + extra.length, 11);
  return out;
}

// ---- tshark as the oracle ----

/** A pcap (LINKTYPE_RAW, IPv4/UDP) of the exchange: client 10.0.0.1:40000, server 10.0.0.2:5684. */
function pcap(log: { dir: string; d: Uint8Array }[]): Buffer {
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0); gh.writeUInt16LE(2, 4); gh.writeUInt16LE(4, 6); gh.writeUInt32LE(65535, 16); gh.writeUInt32LE(101, 20);
  const out = [gh];
  log.forEach(({ dir, d }, i) => {
    const up = dir === "c2s";
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(up ? 40000 : 5684, 0); udp.writeUInt16BE(up ? 5684 : 40000, 2); udp.writeUInt16BE(8 + d.length, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45; ip.writeUInt16BE(28 + d.length, 2); ip[8] = 64; ip[9] = 17;
    Buffer.from(up ? [10, 0, 0, 1, 10, 0, 0, 2] : [10, 0, 0, 2, 10, 0, 0, 1]).copy(ip, 12);
    let sum = 0;
    for (let j = 0; j < 20; j += 2) sum += ip.readUInt16BE(j);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    ip.writeUInt16BE(~sum & 0xffff, 10);
    const pkt = Buffer.concat([ip, udp, Buffer.from(d)]);
    const ph = Buffer.alloc(16);
    ph.writeUInt32LE(i + 1, 0); ph.writeUInt32LE(pkt.length, 8); ph.writeUInt32LE(pkt.length, 12);
    out.push(ph, pkt);
  });
  return Buffer.concat(out);
}

test("tshark dissects our RFC 9146 records and decrypts them with our key log (both directions, Finished and data)", (t) => {
  if (!requirePeer(t, "tshark")) return;
  const { c, s, p, log } = cidPair(4, 8, { keyLog: true });
  assert.equal(c.sendData("hello cid", 2000), 0);
  for (const d of c.drain()) { log.push({ dir: "c2s", d }); s.datagram(KEY, d, 2000); }
  for (const d of s.send(p, "olleh", 2000)[1]) { log.push({ dir: "s2c", d }); c.deliver(d, 2000); }
  const dir = mkdtempSync(join(tmpdir(), "lwm2m-cid-"));
  try {
    const cap = join(dir, "cid.pcap"), keylog = join(dir, "keylog.txt"), bad = join(dir, "bad.txt");
    writeFileSync(cap, pcap(log));
    const line = c.keyLogLine()!;
    writeFileSync(keylog, line + "\n");
    const flipped = line.slice(0, -1) + (line.endsWith("0") ? "1" : "0");
    writeFileSync(bad, flipped + "\n");
    const fields = (kl: string) => execFileSync("tshark", ["-r", cap, "-o", `tls.keylog_file:${kl}`, "-d", "udp.port==5684,dtls",
      "-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "dtls.record.content_type", "-e", "dtls.record.connection_id",
      "-e", "dtls.handshake.extension.type"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim().split("\n");
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
    const rows = fields(keylog).map((l) => l.split("|"));
    // the hellos carry extension 54
    assert.ok(rows.some((r) => r[3].split(",").includes("54")), rows.join("\n"));
    const serverCid = hex(s.ownCid(p)!), clientCid = hex(c.cids()!.own);
    // the last two frames: our application data, decrypted (real type 23 inside a tls12_cid record) with the peer's CID
    const [up, down] = rows.slice(-2);
    assert.deepEqual([up[1], up[2]], ["23", serverCid], rows.join("\n"));
    assert.deepEqual([down[1], down[2]], ["23", clientCid], rows.join("\n"));
    // the Finished of each side inside a tls12_cid record, decrypted as handshake (22)
    const finished = rows.filter((r) => r[2] !== "" && r[1].split(",").includes("22"));
    assert.equal(finished.length, 2, rows.join("\n"));
    const decrypted = execFileSync("tshark", ["-r", cap, "-o", `tls.keylog_file:${keylog}`, "-d", "udp.port==5684,dtls", "-x"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    assert.match(decrypted, /hello cid/);
    assert.match(decrypted, /olleh/);
    // control: one bit of the master secret flipped: the CID headers still dissect, nothing decrypts (no real type)
    const controlRows = fields(bad).map((l) => l.split("|"));
    assert.deepEqual(controlRows.slice(-2).map((r) => [r[1], r[2]]), [["", serverCid], ["", clientCid]], controlRows.join("\n"));
    const none = execFileSync("tshark", ["-r", cap, "-o", `tls.keylog_file:${bad}`, "-d", "udp.port==5684,dtls", "-x"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    assert.doesNotMatch(none, /hello cid/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- the development servers' transport ----

function nextDatagram(t: DtlsTransport, text: string, ms = 8000): Promise<{ key: string; info: PeerInfo }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { t.off("datagram", on); reject(new Error(`no datagram '${text}': ${JSON.stringify(t.stats)}`)); }, ms);
    const on = (key: string, bytes: Uint8Array, info: PeerInfo) => {
      if (!Buffer.from(bytes).toString("latin1").includes(text)) return;
      clearTimeout(timer);
      t.off("datagram", on);
      resolve({ key, info });
    };
    t.on("datagram", on);
  });
}

test("server/transport.ts: a NAT rebinding over real UDP keeps the session (found by CID), answers go to the new port, no handshake", async () => {
  const t = new DtlsTransport({ psk: { lookup: (id) => (id === PSK.identity ? PSK.key : undefined) } });
  const { port } = await t.bind(0, "127.0.0.1");
  const c = new DtlsClient().configure({ psk: PSK, suites: Suite.PskCcm8, cid: 0 });
  try {
    await c.udpHandshake(port);
    assert.equal(c.state, ConnState.Established, c.describe());
    assert.equal(c.cids()?.peer.length, 8, "the transport handed out an 8-byte CID");
    const first = nextDatagram(t, "before rebinding");
    c.udpSend("before rebinding");
    const a = await first;
    const newPort = await c.udpRebind();
    const second = nextDatagram(t, "after rebinding");
    c.udpSend("after rebinding");
    const b = await second;
    assert.notEqual(b.key, a.key);
    assert.equal(b.info.port, newPort);
    assert.equal(b.info.identity?.kind, "psk");
    assert.equal(t.stats.handshakes, 1, "no second handshake");
    assert.equal(t.stats.cidRebinds, 1);
    t.send(b.key, new TextEncoder().encode("answer to the new port"));
    await c.waitAppData((all) => all.includes("answer to the new port"));
    // our last record again, its tag broken, from yet another address: dropped, the address stays
    const broken = Buffer.from(c.sent.at(-1)!);
    broken[broken.length - 1] ^= 1;
    const dropped0 = t.stats.cidDropped;
    await new Promise<void>((res) => { const u = dgram.createSocket("udp4"); u.send(broken, port, "127.0.0.1", () => { u.close(); res(); }); });
    for (let i = 0; i < 50 && t.stats.cidDropped === dropped0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(t.stats.cidDropped, dropped0 + 1);
    assert.equal(t.stats.cidRebinds, 1, "a record that does not authenticate moves nothing");
    // an unknown CID from yet another address: dropped and counted
    const forged = cidRecord(1, 1000, Buffer.alloc(8, 0xee), Buffer.alloc(24, 0));
    const before = t.stats.cidDropped;
    await new Promise<void>((res) => { const u = dgram.createSocket("udp4"); u.send(forged, port, "127.0.0.1", () => { u.close(); res(); }); });
    for (let i = 0; i < 50 && t.stats.cidDropped === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(t.stats.cidDropped, before + 1);
    assert.equal(t.stats.handshakes, 1);
  } finally {
    await c.udpClose().catch(() => {});
    await t.close();
  }
});

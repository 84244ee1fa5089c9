// Secrets leave linear memory when a connection ends (issue 10 §1, SEC rules
// of the common brief): after close_notify either way and after a fatal alert
// sent or received, neither the record keys (the cipher states) nor the master
// secret are anywhere in the linear memory of our client (build/test/dtls.wasm)
// or our server role (build/test/dtls_server.wasm). The keys are derived here
// independently (RFC 5246 5 PRF with node:crypto HMAC, 6.3 key block) from the
// key log and the ServerHello on the wire, and each test first finds them in
// memory while the connection is up, so that a scan that cannot see them fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { DtlsClient, DtlsServer, Suite, ConnState, DtlsError, pairHandshake } from "./helpers/dtls-harness";

const KEY = "10.0.0.7:5684";
const PSK = { identity: "wipe-test", key: Buffer.from("00112233445566778899aabbccddeeff", "hex") };

/** RFC 5246 5: P_SHA256. */
function prf(secret: Buffer, label: string, seed: Buffer, n: number): Buffer {
  const ls = Buffer.concat([Buffer.from(label, "latin1"), seed]);
  const out: Buffer[] = [];
  let a = ls, len = 0;
  while (len < n) {
    a = createHmac("sha256", secret).update(a).digest();
    const b = createHmac("sha256", secret).update(a).update(ls).digest();
    out.push(b);
    len += b.length;
  }
  return Buffer.concat(out).subarray(0, n);
}

/** The NSS key log line: client random, master secret. */
function keyLog(line: string | null | undefined): { cr: Buffer; ms: Buffer } {
  const m = /^CLIENT_RANDOM ([0-9a-f]{64}) ([0-9a-f]{96})/i.exec(line ?? "");
  assert.ok(m, `key log line: ${line}`);
  return { cr: Buffer.from(m[1], "hex"), ms: Buffer.from(m[2], "hex") };
}

/** server_random of the first ServerHello on the wire (record 13 + handshake 12 + version 2). */
function serverRandom(log: { dir: string; d: Uint8Array }[]): Buffer {
  const sh = log.find((x) => x.dir === "s2c" && x.d[0] === 22 && x.d[13] === 2);
  assert.ok(sh, "a ServerHello on the wire");
  return Buffer.from(sh.d.subarray(27, 59));
}

/** RFC 5246 6.3 key block, split into the secrets a cipher state holds (the 4-byte CCM salts are too short to scan for). */
function recordSecrets(ms: Buffer, cr: Buffer, sr: Buffer, suite: number): Buffer[] {
  if (suite === Suite.PskCcm8) {
    const kb = prf(ms, "key expansion", Buffer.concat([sr, cr]), 40);
    return [kb.subarray(0, 16), kb.subarray(16, 32)];
  }
  const kb = prf(ms, "key expansion", Buffer.concat([sr, cr]), 96);
  return [kb.subarray(0, 32), kb.subarray(32, 64), kb.subarray(64, 80), kb.subarray(80, 96)];
}

function found(memory: Uint8Array, needle: Buffer): boolean {
  return Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength).indexOf(needle) >= 0;
}

function pair(suite: number) {
  const c = new DtlsClient().configure({ psk: PSK, suites: suite, keyLog: true });
  const s = new DtlsServer().configure({ psk: PSK, suites: suite, keyLog: true });
  const log = pairHandshake(c, s, { key: KEY });
  assert.equal(c.state, ConnState.Established, c.describe());
  const p = s.peer(KEY)!;
  assert.equal(s.state(p), ConnState.Established, s.describe(p));
  const { cr, ms } = keyLog(c.keyLogLine());
  assert.equal(keyLog(p.keyLogLine).ms.toString("hex"), ms.toString("hex"));
  const keys = recordSecrets(ms, cr, serverRandom(log), suite);
  // positive control: while the connection is up, both sides hold the record keys
  for (const [i, k] of keys.entries()) {
    assert.ok(found(c.m.mem(), k), `client holds key ${i} while established`);
    assert.ok(found(s.m.mem(), k), `server holds key ${i} while established`);
  }
  return { c, s, p, keys, ms };
}

function assertWiped(label: string, memory: Uint8Array, secrets: Buffer[]) {
  for (const [i, k] of secrets.entries()) assert.ok(!found(memory, k), `${label}: secret ${i} (${k.length} bytes) still in linear memory`);
}

for (const [name, suite] of [["PSK-AES128-CCM8", Suite.PskCcm8], ["PSK-AES128-CBC-SHA256", Suite.PskCbc]] as const) {
  test(`${name}: after close_notify both ways, no record key and no master secret in either linear memory`, () => {
    const { c, s, p, keys, ms } = pair(suite);
    c.closeConn(1100);
    const out = c.drain();
    assert.ok(out.length > 0, "close_notify sent");
    for (const d of out) s.datagram(KEY, d, 1100); // the server answers with its own and closes
    assert.equal(c.state, ConnState.Closed);
    assert.equal(s.state(p), ConnState.Closed, s.describe(p));
    assert.equal(s.reason(p), DtlsError.PeerClosed);
    assertWiped("client after close", c.m.mem(), [...keys, ms]);
    assertWiped("server after close_notify", s.m.mem(), [...keys, ms]);
  });

  test(`${name}: after a fatal alert (sent by the server, received by the client), no record key in either linear memory`, () => {
    const { c, s, p, keys, ms } = pair(suite);
    s.x.srvRefusePeer(p.h, 1100n); // bad_certificate, fatal (RFC 5246 7.2.2)
    const out = s.close(p, 1100); // already closed: collects the events and drains the alert
    assert.equal(s.state(p), ConnState.Closed);
    assert.ok(out.length > 0, "the alert went out");
    for (const d of out) c.deliver(d, 1100);
    assert.equal(c.state, ConnState.Closed, c.describe());
    assert.equal(c.reason, DtlsError.PeerAlert, c.describe());
    assertWiped("client after the fatal alert", c.m.mem(), [...keys, ms]);
    assertWiped("server after its fatal alert", s.m.mem(), [...keys, ms]);
  });
}

test("a fatal alert during the handshake wipes the master secret and the keys already installed (client waiting for the server's Finished)", () => {
  // The server holds another key for the identity: it cannot open the client's
  // Finished and answers bad_record_mac (RFC 5246 7.2.2) while the client, its
  // flight sent, holds the master secret and both cipher states.
  const c = new DtlsClient().configure({ psk: PSK, suites: Suite.PskCcm8, keyLog: true });
  const s = new DtlsServer().configure({ psk: { identity: PSK.identity, key: Buffer.alloc(16, 0x5a) }, suites: Suite.PskCcm8 });
  const log: { dir: string; d: Uint8Array }[] = [];
  assert.equal(c.connect(1000), 0);
  let toServer = c.drain();
  let alert: Uint8Array[] = [];
  for (let round = 0; round < 10 && alert.length === 0; round++) {
    const toClient: Uint8Array[] = [];
    for (const d of toServer) { log.push({ dir: "c2s", d }); toClient.push(...s.datagram(KEY, d, 1000)); }
    for (const d of toClient) log.push({ dir: "s2c", d });
    if (toClient.some((d) => d[0] === 21)) { alert = toClient; break; }
    toServer = toClient.flatMap((d) => c.deliver(d, 1000));
  }
  assert.ok(alert.length > 0, "the server refused the client's Finished with an alert");
  assert.equal(c.state, ConnState.WaitChangeCipherSpec, c.describe());
  const { cr, ms } = keyLog(c.keyLogLine());
  const keys = recordSecrets(ms, cr, serverRandom(log), Suite.PskCcm8);
  assert.ok(found(c.m.mem(), ms), "positive control: the client holds its master secret before the alert");
  for (const k of keys) assert.ok(found(c.m.mem(), k), "positive control: and its record keys");
  for (const d of alert) c.deliver(d, 1001);
  assert.equal(c.state, ConnState.Closed, c.describe());
  assert.equal(c.reason, DtlsError.PeerAlert, c.describe());
  assertWiped("client after a fatal alert in the handshake", c.m.mem(), [ms, ...keys]);
});

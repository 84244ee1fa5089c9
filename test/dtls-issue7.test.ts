// Issue 7 regression tests of the DTLS client (build/test/dtls.wasm):
// defect 3 (one spoofed, unauthenticated epoch-0 datagram must not block a
// handshake: the replay window and the handshake reassembler) on recorded
// OpenSSL handshakes (test/fixtures/dtls), and defect 7 (the master secret of
// a session that can never be resumed is not kept) against our server role.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DtlsClient, DtlsServer, Suite, ConnState, pairHandshake } from "./helpers/dtls-harness";
import { fixtures, Replayer } from "./fixtures/dtls/replay";

const CCM = "openssl-psk-ccm8-ticket";
const player = () => new Replayer(fixtures.find((f) => f.name === CCM)!);

/** A plaintext epoch-0 handshake record (RFC 6347 4.1, 4.2.2) carrying one fragment. */
function hsRecord(recordSeq: bigint, type: number, length: number, messageSeq: number, offset: number, frag: Uint8Array): Uint8Array {
  const b = Buffer.alloc(13 + 12 + frag.length);
  b[0] = 22;
  b.writeUInt16BE(0xfefd, 1);
  b.writeUInt16BE(0, 3); // epoch 0
  b.writeUIntBE(Number(recordSeq >> 24n), 5, 3);
  b.writeUIntBE(Number(recordSeq & 0xffffffn), 8, 3);
  b.writeUInt16BE(12 + frag.length, 11);
  b[13] = type;
  b.writeUIntBE(length, 14, 3);
  b.writeUInt16BE(messageSeq, 17);
  b.writeUIntBE(offset, 19, 3);
  b.writeUIntBE(frag.length, 22, 3);
  b.set(frag, 25);
  return b;
}

/** Replays the recorded server flights after the HelloVerifyRequest; the handshake must complete. */
function finishGenuine(p: Replayer, what: string) {
  for (let i = 1; i < p.server[0].length; i++) p.deliver(p.server[0][i]);
  assert.equal(p.c.state, ConnState.Established, `${what}: ${p.c.describe()}`);
}

test("issue 7 defect 3a: a spoofed epoch-0 record with sequence number 2^48-1 does not block the genuine flight (RFC 6347 4.1.2.6)", () => {
  for (const when of ["before the HelloVerifyRequest", "after the HelloVerifyRequest"]) {
    const p = player();
    p.start(0);
    // a later message (message_seq 9): never taken, but its record sequence number is at the limit
    const spoof = hsRecord((1n << 48n) - 1n, 14, 0, 9, 0, new Uint8Array(0));
    if (when.startsWith("before")) p.deliver(spoof);
    p.deliver(p.server[0][0]); // HelloVerifyRequest
    assert.equal(p.c.state, ConnState.WaitServerHello, `${when}: ${p.c.describe()}`);
    if (when.startsWith("after")) p.deliver(spoof);
    finishGenuine(p, when);
    assert.equal(p.c.stats().replaysDropped, 0, "no genuine record taken for a replay");
  }
});

test("issue 7 defect 3b: a fragment with the expected message_seq but another type or length does not lock the reassembler", () => {
  const cases: [string, number, number][] = [
    ["another msg_type", 11, 200], // a Certificate fragment where the ServerHello is due
    ["another length", 2, 200], // a ServerHello fragment of another length
  ];
  for (const [what, type, length] of cases) {
    const p = player();
    p.start(0);
    p.deliver(p.server[0][0]); // HelloVerifyRequest: the ServerHello is message_seq 1
    const sh = p.server[0][1];
    assert.equal((sh[17] << 8) | sh[18], 1, "the recorded ServerHello is message_seq 1");
    p.deliver(hsRecord(77n, type, length, 1, 0, new Uint8Array(10).fill(0x5a)));
    assert.equal(p.c.state, ConnState.WaitServerHello, what);
    finishGenuine(p, what);
  }
});

test("issue 7 defect 7: the master secret of a session that can never be resumed (empty session ID, no ticket) is not kept", () => {
  const PSK = Buffer.from("00112233445566778899aabbccddeeff", "hex");
  const ID = "issue7";
  const masterSecretIn = (c: DtlsClient) => {
    const line = c.keyLogLine();
    assert.ok(line, "key log line");
    const ms = Buffer.from(line!.trim().split(" ")[2], "hex");
    assert.equal(ms.length, 48);
    return Buffer.from(c.m.mem()).indexOf(ms) >= 0;
  };
  for (const cache of [0, 4]) {
    const c = new DtlsClient().configure({ suites: Suite.PskCcm8, psk: { identity: ID, key: PSK }, keyLog: true, tickets: false }, true);
    const s = new DtlsServer().configure({ suites: Suite.All, psk: { identity: ID, key: PSK }, sessionCache: cache });
    pairHandshake(c, s);
    assert.equal(c.state, ConnState.Established, c.describe());
    if (cache === 0) {
      assert.equal(!!c.x.sessionValid(), false, "no session ID, no ticket: not resumable");
      assert.equal(masterSecretIn(c), false, "the master secret is not in linear memory");
    } else {
      assert.equal(!!c.x.sessionValid(), true, "a resumable session keeps it (the scan can find it)");
      assert.equal(masterSecretIn(c), true);
    }
  }
});

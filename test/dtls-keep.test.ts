// The DTLS layer's part of the connection kept across deep sleep (issue 10 §2;
// assembly/dtls/connection.ts keepState / restoreKept / writeSeqLimit): an
// established client connection's state out, the connection wiped (reset, as
// a reboot leaves it), the state back in: records flow both ways with no
// handshake, against our server role; no record is sealed at or above the
// sequence limit the caller reserved (the nonce rule), and bytes that are not
// a kept state are refused with nothing changed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DtlsClient, DtlsServer, Suite, ConnState, DtlsError, pairHandshake } from "./helpers/dtls-harness";

const KEY = "10.0.0.7:5684";
const PSK = { identity: "keep-test", key: Buffer.from("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf", "hex") };

function established(cid?: number) {
  const c = new DtlsClient().configure({ psk: PSK, suites: Suite.PskCcm8, cid });
  const s = new DtlsServer().configure({ psk: PSK, suites: Suite.PskCcm8, cid: 8 });
  pairHandshake(c, s, { key: KEY });
  const p = s.peer(KEY)!;
  assert.equal(c.state, ConnState.Established, c.describe());
  return { c, s, p };
}

/** keepState into the module's scratch; the bytes. */
function keep(c: DtlsClient): Uint8Array {
  const at = c.m.scratch + 8192;
  const n = c.x.connKeepState(at);
  assert.ok(n > 0, `keepState: ${n}`);
  return c.m.read(at, n);
}
function restore(c: DtlsClient, state: Uint8Array, seq: bigint, limit: bigint): number {
  const at = c.m.scratch + 8192;
  c.m.write(state, at);
  return c.x.connRestoreKept(at, seq, limit, 1000n);
}
const deliver = (c: DtlsClient, s: DtlsServer, now = 3000) => { for (const d of c.drain()) s.datagram(KEY, d, now); };

for (const cid of [undefined, 4]) {
  test(`kept state ${cid === undefined ? "without" : "with"} a CID: restored after a wipe, records flow both ways with no handshake; nothing sealed at or above the reserved limit`, () => {
    const { c, s, p } = established(cid);
    assert.equal(c.sendData("before", 2000), 0);
    deliver(c, s);
    const state = keep(c);
    const seq = BigInt(c.x.connWriteSequence());
    c.x.connReset(); // the reboot: everything wiped
    assert.equal(c.state, ConnState.Idle);
    assert.equal(restore(c, state, seq, seq + 2n), 0);
    assert.equal(c.state, ConnState.Established);
    assert.equal(c.sendData("after 1", 3000), 0);
    deliver(c, s);
    assert.equal(c.sendData("after 2", 3000), 0);
    deliver(c, s);
    assert.deepEqual(p.appData.slice(-3).map((d) => Buffer.from(d).toString()), ["before", "after 1", "after 2"]);
    // the nonce rule: the reservation is used up, nothing more is sealed
    assert.equal(c.sendData("after 3", 3000), DtlsError.RecordLimit);
    assert.equal(c.drain().length, 0, "a record beyond the reserved sequence numbers went out");
    assert.equal(BigInt(c.x.connWriteSequence()), seq + 2n);
    // the read keys came back too
    const [r, out] = s.send(p, "answer", 3000);
    assert.equal(r, 0);
    for (const d of out) c.deliver(d, 3000);
    assert.equal(Buffer.from(c.appData.at(-1)!).toString(), "answer");
  });
}

test("restoreKept refuses bytes that are not a kept state, with nothing changed; keepState only when established", () => {
  const { c } = established(4);
  const state = keep(c);
  const seq = BigInt(c.x.connWriteSequence());
  const refused = (mut: (b: Uint8Array) => void, s = seq, l = seq + 64n) => {
    const b = Uint8Array.from(state);
    mut(b);
    assert.equal(restore(c, b, s, l), DtlsError.Config);
    assert.equal(c.state, ConnState.Idle);
  };
  refused((b) => { b[0] = 0; b[1] = 0; b[2] = 0; b[3] = 0; }); // no suite
  refused((b) => { b[0] = 3; }); // two suites
  refused((b) => { b[0] = 2; }); // a suite the config does not allow (PSK-CBC)
  refused((b) => { b[5] = 2; }); // cidOn not a boolean
  refused((b) => { b[6] = 33; }); // a CID above 32 bytes
  refused(() => {}, seq + 64n, seq + 64n); // nothing reserved
  refused(() => {}, seq, 0xffff00000001n); // beyond the record sequence limit (DTLS-10)
  // a CID state into a connection built without room for a CID
  const plain = new DtlsClient().configure({ psk: PSK, suites: Suite.PskCcm8 });
  const at = plain.m.scratch + 8192;
  plain.m.write(state, at);
  assert.equal(plain.x.connRestoreKept(at, seq, seq + 64n, 1000n), DtlsError.Config);
  assert.equal(plain.x.connKeepState(at), DtlsError.BadState, "not established: no state");
  // the unchanged state still restores
  assert.equal(restore(c, state, seq, seq + 64n), 0);
});

// Wire checks shared by the tests that put the device on DTLS.
import assert from "node:assert/strict";

/** Each datagram is a sequence of whole DTLS 1.2 records (RFC 6347 4.1): type 20..23, version FEFD (FEFF in a first flight), lengths adding up. */
export function assertAllDtls(sent: Uint8Array[]) {
  assert.ok(sent.length > 0, "something was sent");
  for (const d of sent) {
    let o = 0;
    while (o < d.length) {
      assert.ok(d.length - o >= 13, `truncated record in ${Buffer.from(d).toString("hex")}`);
      assert.ok(d[o] >= 20 && d[o] <= 23, `not a DTLS record: ${Buffer.from(d).toString("hex")}`);
      assert.ok(d[o + 1] === 0xfe && (d[o + 2] === 0xfd || d[o + 2] === 0xff), "DTLS version");
      o += 13 + ((d[o + 11] << 8) | d[o + 12]);
    }
    assert.equal(o, d.length, "records fill the datagram exactly");
  }
}

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

export interface DtlsRecord { type: number; epoch: number; length: number; messages: number[] }

/** Per record of a datagram: content type, epoch, fragment length, and (epoch-0 handshake records) the
 *  handshake message types inside; a fragment (not 0..length) counts as the type + 1000. */
export function recordsOf(d: Uint8Array): DtlsRecord[] {
  const out: DtlsRecord[] = [];
  for (let i = 0; i + 13 <= d.length;) {
    const type = d[i], epoch = d[i + 3] * 256 + d[i + 4], len = d[i + 11] * 256 + d[i + 12];
    const messages: number[] = [];
    if (type === 22 && epoch === 0) {
      for (let j = i + 13; j < i + 13 + len;) {
        const length = (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3];
        const off = (d[j + 6] << 16) | (d[j + 7] << 8) | d[j + 8], frag = (d[j + 9] << 16) | (d[j + 10] << 8) | d[j + 11];
        messages.push(off === 0 && frag === length ? d[j] : d[j] + 1000);
        j += 12 + frag;
        assert.ok(j <= i + 13 + len, "messages end with the record");
      }
    }
    out.push({ type, epoch, length: len, messages });
    i += 13 + len;
  }
  return out;
}

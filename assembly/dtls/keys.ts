// Key schedule of TLS 1.2 as used by DTLS 1.2: premaster secrets for PSK
// (RFC 4279 2) and ECDHE-PSK (RFC 5489 2), the master secret (RFC 5246 8.1)
// or extended master secret (RFC 7627 4), the key block (RFC 5246 6.3),
// Finished verify_data (RFC 5246 7.4.9) and the NSS key log line.
import { tls12Prf2 } from "../crypto/prf";
import { storeBe16 } from "../util/bytes";
import { asciiTo } from "./codec";

export const VERIFY_DATA_LEN: i32 = 12;
/** "CLIENT_RANDOM " + 64 hex + " " + 96 hex. */
export const KEY_LOG_LINE_LEN: i32 = 175;

const LABEL = memory.data(32);

/** RFC 4279 2 / RFC 5489 2: uint16 len(other) || other || uint16 len(psk) || psk,
 *  other = len(psk) zero bytes (plain PSK, other = 0) or the ECDH secret Z.
 *  Returns the length written to out. */
export function pskPremaster(out: usize, other: usize, otherLen: i32, psk: usize, pskLen: i32): i32 {
  const n = other == 0 ? pskLen : otherLen;
  storeBe16(out, <u32>n);
  if (other == 0) memory.fill(out + 2, 0, <usize>n);
  else memory.copy(out + 2, other, <usize>n);
  storeBe16(out + 2 + <usize>n, <u32>pskLen);
  memory.copy(out + 4 + <usize>n, psk, <usize>pskLen);
  return 4 + n + pskLen;
}

/** master_secret = PRF(pms, "master secret", client_random + server_random)[0..47],
 *  or with EMS (sessionHash != 0) PRF(pms, "extended master secret", session_hash). */
export function deriveMasterSecret(
  pms: usize, pmsLen: i32, sessionHash: usize, clientRandom: usize, serverRandom: usize, out: usize,
): void {
  if (sessionHash != 0) {
    tls12Prf2(pms, pmsLen, LABEL, asciiTo(LABEL, "extended master secret"), sessionHash, 32, 0, 0, out, 48);
  } else {
    tls12Prf2(pms, pmsLen, LABEL, asciiTo(LABEL, "master secret"), clientRandom, 32, serverRandom, 32, out, 48);
  }
}

/** key_block = PRF(master_secret, "key expansion", server_random + client_random). */
export function deriveKeyBlock(ms: usize, clientRandom: usize, serverRandom: usize, out: usize, len: i32): void {
  tls12Prf2(ms, 48, LABEL, asciiTo(LABEL, "key expansion"), serverRandom, 32, clientRandom, 32, out, len);
}

/** verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11]. */
export function finishedVerifyData(ms: usize, server: bool, handshakeHash: usize, out: usize): void {
  const n = asciiTo(LABEL, server ? "server finished" : "client finished");
  tls12Prf2(ms, 48, LABEL, n, handshakeHash, 32, 0, 0, out, VERIFY_DATA_LEN);
}

function hexTo(out: usize, src: usize, len: i32): void {
  for (let i = 0; i < len; i++) {
    const b = <u32>load<u8>(src + <usize>i);
    const hi = b >> 4, lo = b & 15;
    store<u8>(out + <usize>(2 * i), <u8>(hi < 10 ? 48 + hi : 87 + hi));
    store<u8>(out + <usize>(2 * i + 1), <u8>(lo < 10 ? 48 + lo : 87 + lo));
  }
}

/** NSS key log format: "CLIENT_RANDOM <client_random hex> <master_secret hex>". */
export function keyLogLine(out: usize, clientRandom: usize, ms: usize): i32 {
  asciiTo(out, "CLIENT_RANDOM ");
  hexTo(out + 14, clientRandom, 32);
  store<u8>(out + 78, 0x20);
  hexTo(out + 79, ms, 48);
  return KEY_LOG_LINE_LEN;
}

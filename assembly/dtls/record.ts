// DTLS 1.2 record layer (RFC 6347 4.1): header codec, per-direction
// protection state, CCM_8 (RFC 6655 3, RFC 7251) and CBC-HMAC-SHA256
// (RFC 5246 6.2.3.2 with explicit IV) sealing/opening in place, and the
// 64-record anti-replay window (RFC 6347 4.1.2.6).
//
//   struct { ContentType type; ProtocolVersion version; uint16 epoch;
//            uint48 sequence_number; uint16 length; opaque fragment; }
import { rng_fill, HostStatus } from "../host/abi";
import { AES128_KEY_SCHEDULE_SIZE, aes128ExpandKey } from "../crypto/aes";
import { ccmSeal, ccmOpen } from "../crypto/ccm";
import { tlsCbcSeal, tlsCbcOpen, tlsCbcSealedLength } from "../crypto/cbc";
import { CRYPTO_ERR_AUTH, CRYPTO_ERR_LENGTH } from "../crypto/errors";
import { loadBe16, storeBe16, storeBe48 } from "../util/bytes";
import { Protection } from "./suites";

export const RECORD_HEADER_LEN: i32 = 13;

export namespace ContentType {
  /** RFC 9146 4: a record with a connection ID; its real type is inside the ciphertext. */
  export const Tls12Cid: u8 = 25;
  export const ChangeCipherSpec: u8 = 20;
  export const Alert: u8 = 21;
  export const Handshake: u8 = 22;
  export const ApplicationData: u8 = 23;
}

/** ProtocolVersion {254, 253} (RFC 6347 4.1); {254, 255} = DTLS 1.0. */
export const DTLS_1_2: u32 = 0xfefd;
export const DTLS_1_0: u32 = 0xfeff;

/** RFC 6347 4.1 / RFC 5246 6.2.3: TLSCiphertext.length <= 2^14 + 2048. */
export const MAX_CIPHERTEXT: i32 = 16384 + 2048;
export const MAX_PLAINTEXT: i32 = 16384;

export const CCM8_NONCE_EXPLICIT_LEN: i32 = 8; // RFC 6655 3: explicit part of the nonce
export const CCM8_TAG_LEN: i32 = 8;
export const CBC_IV_LEN: i32 = 16;

// ---- protection state of one direction: key schedule, MAC key, IV salt ----
export const CS_MAC_KEY: usize = <usize>AES128_KEY_SCHEDULE_SIZE; // 32 bytes (CBC)
export const CS_SALT: usize = CS_MAC_KEY + 32; // 4 bytes (CCM write_IV)
export const CIPHER_STATE_SIZE: i32 = AES128_KEY_SCHEDULE_SIZE + 40;

/** Install an AES-128 key plus the 32-byte MAC key (CBC) or 4-byte salt (CCM). */
export function installKeys(state: usize, key: usize, extra: usize, prot: i32): void {
  aes128ExpandKey(state, key);
  if (prot == Protection.Ccm8) memory.copy(state + CS_SALT, extra, 4);
  else memory.copy(state + CS_MAC_KEY, extra, 32);
}

export function writeRecordHeader(p: usize, type: u8, version: u32, epoch: u32, seq: u64, len: i32): void {
  store<u8>(p, type);
  storeBe16(p + 1, version);
  storeBe16(p + 3, epoch);
  storeBe48(p + 5, seq);
  storeBe16(p + 11, <u32>len);
}

/** Where the plaintext starts after the record header (explicit nonce / IV before it). */
export function payloadOffset(prot: i32): i32 {
  return prot == Protection.Null ? 0 : prot == Protection.Ccm8 ? CCM8_NONCE_EXPLICIT_LEN : CBC_IV_LEN;
}

/** Bytes a record of len plaintext bytes occupies on the wire. */
export function recordSize(prot: i32, len: i32): i32 {
  if (prot == Protection.Null) return RECORD_HEADER_LEN + len;
  if (prot == Protection.Ccm8) return RECORD_HEADER_LEN + CCM8_NONCE_EXPLICIT_LEN + len + CCM8_TAG_LEN;
  return RECORD_HEADER_LEN + tlsCbcSealedLength(len);
}

// AAD (CCM) / MAC header (CBC): epoch || sequence_number || type || version || length
const AAD = memory.data(16, 8);
const NONCE = memory.data(16, 8);

function buildAad(rec: usize, len: i32): void {
  memory.copy(AAD, rec + 3, 8); // epoch(2) || seq(6)
  store<u8>(AAD + 8, load<u8>(rec));
  memory.copy(AAD + 9, rec + 1, 2);
  storeBe16(AAD + 11, <u32>len);
}

/** Protect the len plaintext bytes already at out + 13 + payloadOffset(prot)
 *  in place and write the header. Returns the record length, or a negative
 *  error (CRYPTO_ERR_LENGTH, or HostStatus.RngHealth for a CBC IV). */
export function sealRecord(out: usize, type: u8, epoch: u32, seq: u64, len: i32, prot: i32, state: usize): i32 {
  if (len < 0 || len > MAX_PLAINTEXT) return CRYPTO_ERR_LENGTH;
  const frag = out + <usize>RECORD_HEADER_LEN;
  let fragLen = len;
  writeRecordHeader(out, type, DTLS_1_2, epoch, seq, len);
  buildAad(out, len);
  if (prot == Protection.Ccm8) {
    // nonce = client/server_write_IV (4) || explicit nonce (8) = epoch || seq
    memory.copy(NONCE, state + CS_SALT, 4);
    memory.copy(NONCE + 4, AAD, 8);
    memory.copy(frag, AAD, 8);
    fragLen = CCM8_NONCE_EXPLICIT_LEN + ccmSeal(state, NONCE, 12, AAD, 13, frag + 8, len, frag + 8, CCM8_TAG_LEN);
  } else if (prot == Protection.CbcSha256) {
    // RFC 5246 6.2.3.2: a fresh unpredictable IV per record
    if (rng_fill(frag, CBC_IV_LEN) != HostStatus.Ok) return HostStatus.RngHealth;
    fragLen = tlsCbcSeal(state, state + CS_MAC_KEY, 32, frag, AAD, frag + 16, len, frag);
  }
  storeBe16(out + 11, <u32>fragLen);
  return RECORD_HEADER_LEN + fragLen;
}

/** Verify and decrypt the record at rec (header + fragment, in place).
 *  Returns the plaintext length (at rec + 13 + payloadOffset(prot)) or
 *  CRYPTO_ERR_AUTH / CRYPTO_ERR_LENGTH. Nothing unauthenticated is released. */
export function openRecord(rec: usize, prot: i32, state: usize): i32 {
  const fragLen = <i32>loadBe16(rec + 11);
  const frag = rec + <usize>RECORD_HEADER_LEN;
  if (prot == Protection.Null) return fragLen;
  if (prot == Protection.Ccm8) {
    const ptLen = fragLen - CCM8_NONCE_EXPLICIT_LEN - CCM8_TAG_LEN;
    if (ptLen < 0) return CRYPTO_ERR_AUTH;
    buildAad(rec, ptLen);
    memory.copy(NONCE, state + CS_SALT, 4);
    memory.copy(NONCE + 4, frag, 8);
    return ccmOpen(state, NONCE, 12, AAD, 13, frag + 8, fragLen - 8, frag + 8, CCM8_TAG_LEN);
  }
  buildAad(rec, 0);
  return tlsCbcOpen(state, state + CS_MAC_KEY, 32, AAD, frag, fragLen, frag + 16);
}

// ---- records with a connection ID (RFC 9146 4, 5), CCM_8 only ----
// DTLSCiphertext: type tls12_cid (25) | version | epoch | sequence_number |
// cid | length | fragment; the fragment protects DTLSInnerPlaintext =
// content || real_type || zeros (we send no padding).

/** RFC 9146 3: the largest CID this implementation keeps for a peer or uses itself. */
export const MAX_CID_LEN: i32 = 32;
/** The real content type of the record openCidRecord() last opened. */
export let cidRealType: u8 = 0;
const CID_AAD = memory.data(24 + MAX_CID_LEN, 8);

/** RFC 9146 5: seq_num_placeholder (8 x 0xff) || tls12_cid || cid_length ||
 *  tls12_cid || version || epoch || sequence_number || cid ||
 *  length_of_DTLSInnerPlaintext. Returns its length. */
function buildCidAad(rec: usize, cidLen: i32, innerLen: i32): i32 {
  memory.fill(CID_AAD, 0xff, 8);
  store<u8>(CID_AAD + 8, ContentType.Tls12Cid);
  store<u8>(CID_AAD + 9, <u8>cidLen);
  store<u8>(CID_AAD + 10, ContentType.Tls12Cid);
  memory.copy(CID_AAD + 11, rec + 1, <usize>(10 + cidLen)); // version, epoch, sequence_number, cid
  storeBe16(CID_AAD + <usize>(21 + cidLen), <u32>innerLen);
  return 23 + cidLen;
}

/** Bytes a CID record of len content bytes occupies on the wire. */
export function cidRecordSize(cidLen: i32, len: i32): i32 {
  return RECORD_HEADER_LEN + cidLen + CCM8_NONCE_EXPLICIT_LEN + len + 1 + CCM8_TAG_LEN;
}

/** Where the content of a CID record starts (after header, CID and explicit nonce). */
export function cidPayloadOffset(cidLen: i32): i32 {
  return RECORD_HEADER_LEN + cidLen + CCM8_NONCE_EXPLICIT_LEN;
}

/** Protect the len content bytes already at out + cidPayloadOffset(cidLen)
 *  as a tls12_cid record of real type `type`. Returns the record length. */
export function sealCidRecord(out: usize, type: u8, epoch: u32, seq: u64, len: i32, cid: usize, cidLen: i32, state: usize): i32 {
  if (len < 0 || len > MAX_PLAINTEXT) return CRYPTO_ERR_LENGTH;
  writeRecordHeader(out, ContentType.Tls12Cid, DTLS_1_2, epoch, seq, 0);
  memory.copy(out + 11, cid, <usize>cidLen);
  const frag = out + <usize>(RECORD_HEADER_LEN + cidLen);
  const inner = frag + CCM8_NONCE_EXPLICIT_LEN;
  store<u8>(inner + <usize>len, type);
  const aadLen = buildCidAad(out, cidLen, len + 1);
  // nonce = write_IV (4) || epoch || sequence_number (RFC 6655 3, unchanged by RFC 9146)
  memory.copy(NONCE, state + CS_SALT, 4);
  memory.copy(NONCE + 4, out + 3, 8);
  memory.copy(frag, out + 3, 8);
  const fragLen = CCM8_NONCE_EXPLICIT_LEN + ccmSeal(state, NONCE, 12, CID_AAD, aadLen, inner, len + 1, inner, CCM8_TAG_LEN);
  storeBe16(out + <usize>(11 + cidLen), <u32>fragLen);
  return RECORD_HEADER_LEN + cidLen + fragLen;
}

/** Verify and decrypt a tls12_cid record whose CID is cidLen bytes (in place).
 *  Returns the content length (at rec + cidPayloadOffset(cidLen), real type
 *  in cidRealType) or CRYPTO_ERR_AUTH (also for an inner plaintext of zeros only). */
export function openCidRecord(rec: usize, cidLen: i32, state: usize): i32 {
  const fragLen = <i32>loadBe16(rec + <usize>(11 + cidLen));
  const frag = rec + <usize>(RECORD_HEADER_LEN + cidLen);
  const innerLen = fragLen - CCM8_NONCE_EXPLICIT_LEN - CCM8_TAG_LEN;
  if (innerLen < 1) return CRYPTO_ERR_AUTH;
  const aadLen = buildCidAad(rec, cidLen, innerLen);
  memory.copy(NONCE, state + CS_SALT, 4);
  memory.copy(NONCE + 4, frag, 8);
  let n = ccmOpen(state, NONCE, 12, CID_AAD, aadLen, frag + 8, fragLen - 8, frag + 8, CCM8_TAG_LEN);
  if (n < 0) return n;
  // RFC 9146 4: the real type is the last non-zero byte
  while (n > 0 && load<u8>(frag + 8 + <usize>(n - 1)) == 0) n--;
  if (n == 0) return CRYPTO_ERR_AUTH;
  cidRealType = load<u8>(frag + 8 + <usize>(n - 1));
  return n - 1;
}

// ---- anti-replay window (RFC 6347 4.1.2.6), 16 bytes: highest accepted
// sequence number, then a bitmap whose bit i marks (highest - i) as seen.
// All zero = nothing received yet in this epoch.
export const REPLAY_WINDOW_SIZE: i32 = 16;

/** True when seq is new and inside the window (checked before authentication). */
export function replayFresh(w: usize, seq: u64): bool {
  const top = load<u64>(w), bits = load<u64>(w, 8);
  if (bits == 0 || seq > top) return true;
  const d = top - seq;
  return d < 64 && ((bits >> d) & 1) == 0;
}

/** Record seq as seen (only after the record authenticated). */
export function replayMark(w: usize, seq: u64): void {
  const top = load<u64>(w), bits = load<u64>(w, 8);
  if (bits == 0) {
    store<u64>(w, seq);
    store<u64>(w, 1, 8);
  } else if (seq > top) {
    const d = seq - top;
    store<u64>(w, seq);
    store<u64>(w, (d >= 64 ? 0 : bits << d) | 1, 8);
  } else {
    store<u64>(w, bits | (<u64>1 << (top - seq)), 8);
  }
}

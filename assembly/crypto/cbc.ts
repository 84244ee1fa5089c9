// AES-128-CBC (NIST SP 800-38A 6.2) and the TLS 1.2 / DTLS 1.2
// GenericBlockCipher record protection (RFC 5246 6.2.3.2, MAC-then-encrypt
// with HMAC-SHA256, explicit 16-byte IV; RFC 6347 4.1.2.1 for DTLS, whose
// MAC header starts with epoch || sequence_number instead of seq_num).
import { aes128EncryptBlock, aes128DecryptBlock } from "./aes";
import {
  HMAC_SHA256_CTX_SIZE, hmacSha256Init, hmacSha256Update, hmacSha256Final,
} from "./hmac";
import { sha256Init, sha256Update, SHA256_BUF } from "./sha256";
import { ctEqual, wipe } from "./ct";
import { CRYPTO_ERR_AUTH, CRYPTO_ERR_LENGTH } from "./errors";
import { storeBe16 } from "../util/bytes";

export const TLS_CBC_IV_LEN: i32 = 16; // record_iv_length = block size
export const TLS_CBC_MAC_LEN: i32 = 32; // HMAC-SHA256
/** RFC 5246 6.2.1: TLSPlaintext.length <= 2^14. */
export const TLS_MAX_PLAINTEXT: i32 = 16384;
/** RFC 5246 6.2.3: TLSCiphertext.length <= 2^14 + 2048. */
export const TLS_MAX_CIPHERTEXT: i32 = 16384 + 2048;
/** Bytes of the MAC header: seq_num(8) type(1) version(2) length(2). */
export const TLS_MAC_HEADER_LEN: i32 = 13;
// Smallest record: IV + one block holding the MAC and padding_length.
const MIN_RECORD: i32 = 16 + 48;

// Module-static working memory (not reentrant), wiped before returning.
const HMAC_CTX = memory.data(HMAC_SHA256_CTX_SIZE, 8);
const MAC = memory.data(96, 16); // computed MAC | received MAC | rotation temp
const MAC_RECV: usize = MAC + 32;
const ROT_TMP: usize = MAC + 64;

/** SP 800-38A 6.2 CBC encryption; len a multiple of 16. input may equal out.
 *  Returns len, or CRYPTO_ERR_LENGTH. */
export function cbcEncrypt(ks: usize, iv: usize, input: usize, len: i32, out: usize): i32 {
  if (len < 0 || (len & 15) != 0) return CRYPTO_ERR_LENGTH;
  // C_j = CIPH_K(P_j xor C_{j-1}), C_0 = IV
  let c0 = load<u64>(iv), c1 = load<u64>(iv, 8);
  for (let off: i32 = 0; off < len; off += 16) {
    const src = input + <usize>off, dst = out + <usize>off;
    store<u64>(dst, load<u64>(src) ^ c0);
    store<u64>(dst, load<u64>(src, 8) ^ c1, 8);
    aes128EncryptBlock(ks, dst, dst);
    c0 = load<u64>(dst);
    c1 = load<u64>(dst, 8);
  }
  return len;
}

/** SP 800-38A 6.2 CBC decryption; len a multiple of 16. input may equal out.
 *  Returns len, or CRYPTO_ERR_LENGTH. */
export function cbcDecrypt(ks: usize, iv: usize, input: usize, len: i32, out: usize): i32 {
  if (len < 0 || (len & 15) != 0) return CRYPTO_ERR_LENGTH;
  // P_j = CIPH^-1_K(C_j) xor C_{j-1}
  let c0 = load<u64>(iv), c1 = load<u64>(iv, 8);
  for (let off: i32 = 0; off < len; off += 16) {
    const src = input + <usize>off, dst = out + <usize>off;
    const n0 = load<u64>(src), n1 = load<u64>(src, 8);
    aes128DecryptBlock(ks, src, dst);
    store<u64>(dst, load<u64>(dst) ^ c0);
    store<u64>(dst, load<u64>(dst, 8) ^ c1, 8);
    c0 = n0;
    c1 = n1;
  }
  return len;
}

/** Length of the record tlsCbcSeal writes for a len-byte fragment:
 *  IV || fragment || MAC || padding || padding_length, padded to 16. */
export function tlsCbcSealedLength(len: i32): i32 {
  return TLS_CBC_IV_LEN + ((len + TLS_CBC_MAC_LEN + 16) & ~15);
}

/** RFC 5246 6.2.3.2 GenericBlockCipher: out = IV || CBC(fragment || MAC ||
 *  padding || padding_length) with MAC = HMAC-SHA256(macKey, macHeader ||
 *  fragment) (6.2.3.1). macHeader is the 13-byte seq_num || type || version
 *  || length; its length field is set here to len. The minimal padding is
 *  used. iv: 16 fresh random bytes from the caller (may lie inside out).
 *  fragment may already sit at out + 16 (in place) or anywhere else.
 *  Returns tlsCbcSealedLength(len), or CRYPTO_ERR_LENGTH when len is
 *  outside 0..2^14. */
export function tlsCbcSeal(
  ks: usize, macKey: usize, macKeyLen: i32, iv: usize, macHeader: usize,
  fragment: usize, len: i32, out: usize,
): i32 {
  if (len < 0 || len > TLS_MAX_PLAINTEXT) return CRYPTO_ERR_LENGTH;
  const iv0 = load<u64>(iv), iv1 = load<u64>(iv, 8);
  storeBe16(macHeader + 11, <u32>len);
  hmacSha256Init(HMAC_CTX, macKey, macKeyLen);
  hmacSha256Update(HMAC_CTX, macHeader, TLS_MAC_HEADER_LEN);
  hmacSha256Update(HMAC_CTX, fragment, len);
  hmacSha256Final(HMAC_CTX, MAC);
  const body = out + <usize>TLS_CBC_IV_LEN;
  const bodyLen = (len + TLS_CBC_MAC_LEN + 16) & ~15;
  const padLen = bodyLen - len - TLS_CBC_MAC_LEN - 1;
  memory.copy(body, fragment, <usize>len);
  memory.copy(body + <usize>len, MAC, TLS_CBC_MAC_LEN);
  // padding: padLen + 1 bytes (padding and padding_length), each = padLen
  memory.fill(body + <usize>(len + TLS_CBC_MAC_LEN), <u8>padLen, <usize>(padLen + 1));
  store<u64>(out, iv0);
  store<u64>(out, iv1, 8);
  cbcEncrypt(ks, out, body, bodyLen, body);
  wipe(MAC, 32);
  return TLS_CBC_IV_LEN + bodyLen;
}

/** All ones when a < b, else 0 (|a|, |b| < 2^30). */
// @ts-ignore: decorator
@inline function maskLt(a: i32, b: i32): i32 {
  return (a - b) >> 31;
}

/** SHA-256 compressions that hashing len bytes after the key block costs
 *  (FIPS 180-4 5.1.1: len bytes, 0x80, 8-byte length, whole blocks). */
// @ts-ignore: decorator
@inline function hashBlocks(len: i32): i32 {
  return ((len + 8) >> 6) + 1;
}

/** Decrypt and verify one GenericBlockCipher record (RFC 5246 6.2.3.2):
 *  input = IV || ciphertext (inLen bytes). The decrypted content || MAC ||
 *  padding (inLen - 16 bytes) is written to out (room for inLen - 16 bytes
 *  needed; out may equal input + 16). macHeader: the 13-byte seq_num ||
 *  type || version || length; its length field is set here to the
 *  recovered plaintext length before the MAC is computed.
 *
 *  Returns the plaintext length (the content is at out), or CRYPTO_ERR_AUTH
 *  for every kind of bad record: bad MAC, bad padding, length not a whole
 *  number of blocks or too short (7.2.2 bad_record_mac; then out is wiped),
 *  or CRYPTO_ERR_LENGTH when inLen exceeds 2^14 + 2048 (record_overflow).
 *
 *  Padding oracle / Lucky13 defences: after the public length checks there
 *  is no branch on decrypted data. The padding is checked over the whole
 *  256-byte window, the MAC is always computed (as if the padding were
 *  empty when padding_length does not fit, RFC 5246 6.2.3.2 note), the
 *  received MAC is extracted with a scan over all its possible positions,
 *  and the results are combined with masks. The number of SHA-256
 *  compressions is the same for every padding length (dummy compressions
 *  top it up to the count of the longest possible content); what remains
 *  data-dependent is the loop count of those dummies and of memory.copy in
 *  sha256Update, each a small fraction of one compression. */
export function tlsCbcOpen(
  ks: usize, macKey: usize, macKeyLen: i32, macHeader: usize,
  input: usize, inLen: i32, out: usize,
): i32 {
  if (inLen > TLS_MAX_CIPHERTEXT) return CRYPTO_ERR_LENGTH;
  if (inLen < MIN_RECORD || (inLen & 15) != 0) return CRYPTO_ERR_AUTH;
  const n = inLen - TLS_CBC_IV_LEN;
  cbcDecrypt(ks, input, input + <usize>TLS_CBC_IV_LEN, n, out);

  // padding_length, valid only if padding, its length byte and the MAC fit
  let padLen = <i32>load<u8>(out + <usize>(n - 1));
  let good = ~maskLt(n - TLS_CBC_MAC_LEN - 1, padLen);
  padLen &= good;
  // every padding byte must equal padding_length; scan the largest window
  const window = n < 256 ? n : 256;
  let diff: i32 = 0;
  for (let i: i32 = 0; i < window; i++) {
    const b = <i32>load<u8>(out + <usize>(n - 1 - i));
    diff |= maskLt(i, padLen + 1) & (b ^ padLen);
  }
  good &= maskLt(diff, 1);
  const ptLen = n - TLS_CBC_MAC_LEN - 1 - padLen;

  // MAC = HMAC(mac_key, seq_num || type || version || length || content)
  storeBe16(macHeader + 11, <u32>ptLen);
  hmacSha256Init(HMAC_CTX, macKey, macKeyLen);
  hmacSha256Update(HMAC_CTX, macHeader, TLS_MAC_HEADER_LEN);
  hmacSha256Update(HMAC_CTX, out, ptLen);
  hmacSha256Final(HMAC_CTX, MAC);
  // Lucky13 (AlFardan-Paterson 2013): same compression count as for the
  // longest content this record can carry (padLen = 0).
  let extra = hashBlocks(TLS_MAC_HEADER_LEN + n - TLS_CBC_MAC_LEN - 1)
    - hashBlocks(TLS_MAC_HEADER_LEN + ptLen);
  sha256Init(HMAC_CTX);
  while (extra > 0) {
    sha256Update(HMAC_CTX, HMAC_CTX + SHA256_BUF, 64);
    extra--;
  }

  // Received MAC at out[ptLen, ptLen + 32): scan every position it can
  // start at (ptLen >= n - 32 - 256), collecting bytes at index
  // (p - scanStart) mod 32, then rotate left by (ptLen - scanStart) mod 32
  // with a constant-time barrel shifter.
  const scanStart = n > 288 ? n - 288 : 0;
  memory.fill(MAC_RECV, 0, 32);
  for (let p: i32 = scanStart; p < n - 1; p++) {
    const inMac = ~maskLt(p, ptLen) & maskLt(p, ptLen + TLS_CBC_MAC_LEN);
    const at = MAC_RECV + <usize>((p - scanStart) & 31);
    store<u8>(at, load<u8>(at) | (load<u8>(out + <usize>p) & <u8>inMac));
  }
  const rot = (ptLen - scanStart) & 31;
  for (let b: i32 = 0; b < 5; b++) {
    const s = 1 << b;
    const m = <u8>-((rot >> b) & 1);
    memory.copy(ROT_TMP, MAC_RECV, 32);
    for (let k: i32 = 0; k < 32; k++) {
      const keep = load<u8>(ROT_TMP + <usize>k);
      const moved = load<u8>(ROT_TMP + <usize>((k + s) & 31));
      store<u8>(MAC_RECV + <usize>k, (moved & m) | (keep & ~m));
    }
  }
  good &= -(<i32>ctEqual(MAC, MAC_RECV, TLS_CBC_MAC_LEN));
  wipe(MAC, 96);
  wipe(HMAC_CTX, HMAC_SHA256_CTX_SIZE);
  if (good != -1) {
    wipe(out, n);
    return CRYPTO_ERR_AUTH;
  }
  return ptLen;
}

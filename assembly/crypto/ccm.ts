// CCM (Counter with CBC-MAC) over AES-128: RFC 3610 section 2, identical to
// NIST SP 800-38C. Used by the TLS/DTLS AES-CCM suites (RFC 6655, RFC 7251:
// 12-byte nonce = 4-byte salt || 8-byte explicit nonce, 16- or 8-byte tags)
// and OSCORE (RFC 8613: 13-byte nonce, 8-byte tag).
//
// Parameters: nonce 7..13 bytes (L = 15 - nonceLen length octets, 2..8),
// tag length M in {4, 6, ..., 16}. Messages up to 2^(8L) - 1 bytes (and
// below 2^31 - 16), associated data up to 2^31 - 1 bytes.
//
// Buffers: plaintext/ciphertext and out may be the same address (in-place)
// or not overlap at all; nonce/aad/tag may be anywhere outside out.
import { aes128EncryptBlock } from "./aes";
import { ctEqual, wipe } from "./ct";
import { CRYPTO_ERR_AUTH, CRYPTO_ERR_LENGTH } from "./errors";

export const CCM_MIN_NONCE_LEN: i32 = 7;
export const CCM_MAX_NONCE_LEN: i32 = 13;
export const CCM_MAX_TAG_LEN: i32 = 16;

// Working blocks (module-static, so not reentrant), wiped before returning.
const WORK = memory.data(64, 16);
const X: usize = WORK; // CBC-MAC chaining value X_i (RFC 3610 2.2)
const A: usize = WORK + 16; // counter block A_i (2.3)
const S: usize = WORK + 32; // key stream block S_i = E(K, A_i)
const S0: usize = WORK + 48; // S_0 = E(K, A_0), encrypts the tag

/** RFC 3610 2 / SP 800-38C A.1 parameter checks. */
function ccmLengthsOk(nonceLen: i32, aadLen: i32, msgLen: i32, tagLen: i32): bool {
  if (nonceLen < CCM_MIN_NONCE_LEN || nonceLen > CCM_MAX_NONCE_LEN) return false;
  if (tagLen < 4 || tagLen > CCM_MAX_TAG_LEN || (tagLen & 1) != 0) return false;
  if (aadLen < 0 || msgLen < 0 || msgLen > 0x7fffffff - CCM_MAX_TAG_LEN) return false;
  // l(m) must fit in L octets (only binds for L = 2, 3)
  const lenBits = (15 - nonceLen) << 3;
  return lenBits >= 32 || (msgLen >>> lenBits) == 0;
}

/** CBC-MAC over bytes (RFC 3610 2.2): XOR into X from offset pos, one block
 *  encryption per 16 bytes filled. Returns the new offset. */
function macBytes(ks: usize, data: usize, len: i32, pos: i32): i32 {
  for (let i: i32 = 0; i < len; i++) {
    const x = X + <usize>pos;
    store<u8>(x, load<u8>(x) ^ load<u8>(data + <usize>i));
    if (++pos == 16) {
      aes128EncryptBlock(ks, X, X);
      pos = 0;
    }
  }
  return pos;
}

/** Authenticate and encrypt/decrypt len bytes from input to out. Leaves the
 *  unencrypted tag T in X and S_0 in S0. */
function ccmCrypt(
  ks: usize, nonce: usize, nonceLen: i32, aad: usize, aadLen: i32,
  input: usize, len: i32, out: usize, tagLen: i32, decrypt: bool,
): void {
  const nonceEnd = 1 + nonceLen;
  // B_0 = Flags || Nonce || l(m), Flags = 64*Adata + 8*((M-2)/2) + (L-1)
  store<u8>(X, (aadLen > 0 ? 0x40 : 0) | (((tagLen - 2) >> 1) << 3) | (14 - nonceLen));
  memory.copy(X + 1, nonce, <usize>nonceLen);
  // A_0 = Flags || Nonce || 0, Flags = L-1
  store<u8>(A, 14 - nonceLen);
  memory.copy(A + 1, nonce, <usize>nonceLen);
  let m = <u32>len;
  for (let i: i32 = 15; i >= nonceEnd; i--) {
    store<u8>(X + <usize>i, <u8>m);
    store<u8>(A + <usize>i, 0);
    m >>>= 8;
  }
  aes128EncryptBlock(ks, X, X);
  aes128EncryptBlock(ks, A, S0);
  // Additional authenticated data: l(a) || a, zero-padded to a block (2.2).
  if (aadLen > 0) {
    let pos: i32;
    if (aadLen < 0xff00) {
      // 0 < l(a) < 2^16 - 2^8: two octets
      store<u16>(X, load<u16>(X) ^ bswap<u16>(<u16>aadLen));
      pos = 2;
    } else {
      // 2^16 - 2^8 <= l(a) < 2^32: 0xff 0xfe || four octets
      store<u16>(X, load<u16>(X) ^ 0xfeff);
      store<u32>(X + 2, load<u32>(X + 2) ^ bswap<u32>(<u32>aadLen));
      pos = 6;
    }
    if (macBytes(ks, aad, aadLen, pos) != 0) aes128EncryptBlock(ks, X, X);
  }
  // Message: CBC-MAC over the plaintext (2.2), CTR with A_1, A_2, ... (2.3),
  // one block at a time so in-place operation works.
  for (let off: i32 = 0; off < len; off += 16) {
    // A_i: increment the L-octet counter
    for (let i: i32 = 15; i >= nonceEnd; i--) {
      const c = (<u32>load<u8>(A + <usize>i) + 1) & 0xff;
      store<u8>(A + <usize>i, <u8>c);
      if (c != 0) break;
    }
    aes128EncryptBlock(ks, A, S);
    const src = input + <usize>off, dst = out + <usize>off;
    if (len - off >= 16) {
      const i0 = load<u64>(src), i1 = load<u64>(src, 8);
      const o0 = i0 ^ load<u64>(S), o1 = i1 ^ load<u64>(S, 8);
      store<u64>(dst, o0);
      store<u64>(dst, o1, 8);
      // the MAC covers the plaintext: the output when decrypting
      store<u64>(X, load<u64>(X) ^ (decrypt ? o0 : i0));
      store<u64>(X, load<u64>(X, 8) ^ (decrypt ? o1 : i1), 8);
    } else {
      // last partial block: zero padding for the MAC, truncated key stream
      for (let i: i32 = 0, r = len - off; i < r; i++) {
        const v = load<u8>(src + <usize>i);
        const o = v ^ load<u8>(S + <usize>i);
        store<u8>(dst + <usize>i, o);
        store<u8>(X + <usize>i, load<u8>(X + <usize>i) ^ (decrypt ? o : v));
      }
    }
    aes128EncryptBlock(ks, X, X);
  }
}

/** CCM generation-encryption (RFC 3610 2.2-2.4): writes ciphertext || tag
 *  (ptLen + tagLen bytes) to out. Returns ptLen + tagLen, or
 *  CRYPTO_ERR_LENGTH for an unsupported nonce/tag/message length. */
export function ccmSeal(
  ks: usize, nonce: usize, nonceLen: i32, aad: usize, aadLen: i32,
  plaintext: usize, ptLen: i32, out: usize, tagLen: i32,
): i32 {
  if (!ccmLengthsOk(nonceLen, aadLen, ptLen, tagLen)) return CRYPTO_ERR_LENGTH;
  ccmCrypt(ks, nonce, nonceLen, aad, aadLen, plaintext, ptLen, out, tagLen, false);
  // U = first M octets of T XOR S_0 (2.3)
  const tag = out + <usize>ptLen;
  for (let i: i32 = 0; i < tagLen; i++) {
    store<u8>(tag + <usize>i, load<u8>(X + <usize>i) ^ load<u8>(S0 + <usize>i));
  }
  wipe(WORK, 64);
  return ptLen + tagLen;
}

/** CCM decryption-verification (RFC 3610 2.5): input = ciphertext || tag
 *  (inLen bytes), writes the plaintext (inLen - tagLen bytes) to out.
 *  Returns the plaintext length, CRYPTO_ERR_LENGTH for unsupported lengths
 *  (out untouched), or CRYPTO_ERR_AUTH when the tag does not verify: then
 *  out is wiped, so no unauthenticated plaintext is released. The tag is
 *  compared in constant time. */
export function ccmOpen(
  ks: usize, nonce: usize, nonceLen: i32, aad: usize, aadLen: i32,
  input: usize, inLen: i32, out: usize, tagLen: i32,
): i32 {
  const ptLen = inLen - tagLen;
  if (!ccmLengthsOk(nonceLen, aadLen, ptLen, tagLen)) return CRYPTO_ERR_LENGTH;
  ccmCrypt(ks, nonce, nonceLen, aad, aadLen, input, ptLen, out, tagLen, true);
  for (let i: i32 = 0; i < tagLen; i++) {
    store<u8>(S + <usize>i, load<u8>(X + <usize>i) ^ load<u8>(S0 + <usize>i));
  }
  const ok = ctEqual(S, input + <usize>ptLen, tagLen);
  wipe(WORK, 64);
  if (!ok) {
    wipe(out, ptLen);
    return CRYPTO_ERR_AUTH;
  }
  return ptLen;
}

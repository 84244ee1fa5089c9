// HMAC-SHA-256, RFC 2104 (as used by RFC 5246 and RFC 4231). Allocation-free:
// the context lives in caller memory (HMAC_SHA256_CTX_SIZE bytes).
//
// Context layout: the inner SHA-256 context (already keyed with K0 ^ ipad),
// then the outer one (already keyed with K0 ^ opad). Keying costs two
// compressions once; every message after that costs only its own blocks
// plus one outer compression. Both halves are key-derived secrets and are
// wiped by hmacSha256Final.
import {
  SHA256_CTX_SIZE, SHA256_BLOCK_LEN, SHA256_BUF, hashScratch,
  sha256Init, sha256Update, sha256Final,
} from "./sha256";

export const HMAC_SHA256_CTX_SIZE: i32 = 2 * SHA256_CTX_SIZE;
const OUTER: usize = <usize>SHA256_CTX_SIZE;

/** Key the context (RFC 2104 steps 1-4). Keys longer than the 64-byte block
 *  are hashed first; keyLen <= 0 is the empty key. key may be anywhere
 *  except inside ctx. */
export function hmacSha256Init(ctx: usize, key: usize, keyLen: i32): void {
  const inner = ctx, outer = ctx + OUTER;
  const ipad = inner + SHA256_BUF, opad = outer + SHA256_BUF;
  // K0: the key, or its hash, zero-padded to B = 64 bytes, built in the
  // inner block buffer (sha256Init does not touch the block buffer).
  if (keyLen > SHA256_BLOCK_LEN) {
    sha256Init(outer);
    sha256Update(outer, key, keyLen);
    sha256Final(outer, ipad);
    memory.fill(ipad + 32, 0, 32);
  } else {
    if (keyLen < 0) keyLen = 0;
    memory.copy(ipad, key, <usize>keyLen);
    memory.fill(ipad + <usize>keyLen, 0, <usize>(64 - keyLen));
  }
  // K0 ^ ipad (0x36..) and K0 ^ opad (0x5c..); 0x36 ^ 0x5c = 0x6a.
  for (let i: usize = 0; i < 64; i += 8) {
    const k = load<u64>(ipad + i) ^ 0x3636363636363636;
    store<u64>(ipad + i, k);
    store<u64>(opad + i, k ^ 0x6a6a6a6a6a6a6a6a);
  }
  sha256Init(inner);
  sha256Update(inner, ipad, 64);
  sha256Init(outer);
  sha256Update(outer, opad, 64);
}

export function hmacSha256Update(ctx: usize, data: usize, len: i32): void {
  sha256Update(ctx, data, len);
}

/** Write the 32-byte MAC to out (also used as scratch for the inner hash)
 *  and wipe the context. out may not overlap ctx. */
export function hmacSha256Final(ctx: usize, out: usize): void {
  sha256Final(ctx, out);
  const outer = ctx + OUTER;
  sha256Update(outer, out, 32);
  sha256Final(outer, out);
}

/** One-shot HMAC-SHA-256 into out (32 bytes). Not reentrant. */
export function hmacSha256(key: usize, keyLen: i32, data: usize, len: i32, out: usize): void {
  hmacSha256Init(hashScratch, key, keyLen);
  sha256Update(hashScratch, data, len);
  hmacSha256Final(hashScratch, out);
}

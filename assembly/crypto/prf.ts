// The TLS 1.2 pseudorandom function with SHA-256, RFC 5246 section 5:
//   PRF(secret, label, seed) = P_SHA256(secret, label + seed)
//   P_hash(secret, seed) = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ...
//   A(0) = seed, A(i) = HMAC(secret, A(i-1))
// label + seed is never assembled: its pieces are fed to HMAC in turn.
import { HMAC_SHA256_CTX_SIZE, hmacSha256Init, hmacSha256Update, hmacSha256Final } from "./hmac";
import { hashScratch } from "./sha256";
import { wipe } from "./ct";

// The HMAC context keyed once with the secret; each HMAC copies it into
// hashScratch (shared with the one-shot helpers). A holds A(i). All wiped
// before returning.
const keyed = memory.data(HMAC_SHA256_CTX_SIZE, 8);
const A = memory.data(32, 8);

// @ts-ignore: decorator
@inline function startHmac(): usize {
  memory.copy(hashScratch, keyed, <usize>HMAC_SHA256_CTX_SIZE);
  return hashScratch;
}

/** PRF(secret, label, seedA + seedB) into [out, out+outLen) (seedA || seedB
 *  is the seed, e.g. client_random, server_random). The secret is read once
 *  at the start, so out may overlap it; out must not overlap label or seeds
 *  (they are re-read for every output block). Lengths <= 0 are empty.
 *  Not reentrant (static scratch, wiped on return). */
export function tls12Prf2(
  secret: usize, secretLen: i32, label: usize, labelLen: i32,
  seedA: usize, aLen: i32, seedB: usize, bLen: i32, out: usize, outLen: i32,
): void {
  hmacSha256Init(keyed, secret, secretLen);
  // A(1) = HMAC(secret, label + seed)
  let h = startHmac();
  hmacSha256Update(h, label, labelLen);
  hmacSha256Update(h, seedA, aLen);
  hmacSha256Update(h, seedB, bLen);
  hmacSha256Final(h, A);
  let pos: i32 = 0;
  while (pos < outLen) {
    // HMAC(secret, A(i) + label + seed)
    h = startHmac();
    hmacSha256Update(h, A, 32);
    hmacSha256Update(h, label, labelLen);
    hmacSha256Update(h, seedA, aLen);
    hmacSha256Update(h, seedB, bLen);
    const rest = outLen - pos;
    if (rest >= 32) {
      hmacSha256Final(h, out + <usize>pos);
    } else {
      hmacSha256Final(h, A); // A(i) is no longer needed
      memory.copy(out + <usize>pos, A, <usize>rest);
      break;
    }
    pos += 32;
    if (pos >= outLen) break;
    // A(i+1) = HMAC(secret, A(i))
    h = startHmac();
    hmacSha256Update(h, A, 32);
    hmacSha256Final(h, A);
  }
  wipe(keyed, HMAC_SHA256_CTX_SIZE);
  wipe(A, 32);
}

/** PRF(secret, label, seed) into [out, out+outLen) (RFC 5246 section 5). */
export function tls12Prf(
  secret: usize, secretLen: i32, label: usize, labelLen: i32,
  seed: usize, seedLen: i32, out: usize, outLen: i32,
): void {
  tls12Prf2(secret, secretLen, label, labelLen, seed, seedLen, 0, 0, out, outLen);
}

// SHA-256, FIPS 180-4 section 6.2. Streaming, allocation-free: the context
// lives in caller memory (SHA256_CTX_SIZE bytes, any alignment).
//
// Context layout:
//   [0, 32)    H(0..7), the intermediate hash value (FIPS 180-4 6.2.2 step 4)
//   [32, 96)   the message block being filled; compressed in place (its 16
//              words become the rolling message schedule W, 6.2.2 step 1)
//   [96, 104)  message length so far, in bytes (u64)
//   [104, 112) reserved
import { loadBe32, storeBe32, storeBe64 } from "../util/bytes";
import { wipe } from "./ct";

export const SHA256_DIGEST_LEN: i32 = 32;
export const SHA256_BLOCK_LEN: i32 = 64;
export const SHA256_CTX_SIZE: i32 = 112;
/** Offset of the 64-byte block buffer inside a context (used by hmac.ts). */
export const SHA256_BUF: usize = 32;
const LEN: usize = 96;
const USED_SIZE: i32 = 104; // bytes of the context that carry state

// FIPS 180-4 4.2.2: the 64 round constants K(0..63).
const K = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// FIPS 180-4 5.3.3: the initial hash value H(0).
const H0 = memory.data<u32>([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/** Static scratch shared by the one-shot helpers sha256(), hmacSha256() and
 *  tls12Prf() (room for one HMAC context). None of them calls another
 *  while it uses it; none is reentrant. Wiped after each use. */
export const hashScratch = memory.data(2 * SHA256_CTX_SIZE, 8);

/** One compression of the block at ctx+SHA256_BUF into H (FIPS 180-4 6.2.2). */
function compress(ctx: usize): void {
  const w = ctx + SHA256_BUF;
  let a = load<u32>(ctx, 0), b = load<u32>(ctx, 4), c = load<u32>(ctx, 8), d = load<u32>(ctx, 12);
  let e = load<u32>(ctx, 16), f = load<u32>(ctx, 20), g = load<u32>(ctx, 24), h = load<u32>(ctx, 28);
  for (let t: usize = 0; t < 64; t++) {
    let x: u32;
    if (t < 16) {
      // W(t) = M(t): the block's words, read big-endian (step 1)
      x = loadBe32(w + (t << 2));
    } else {
      // W(t) = s1(W(t-2)) + W(t-7) + s0(W(t-15)) + W(t-16), kept in 16 words
      const w15 = load<u32>(w + (((t - 15) & 15) << 2));
      const w2 = load<u32>(w + (((t - 2) & 15) << 2));
      x = (rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >>> 10))
        + load<u32>(w + (((t - 7) & 15) << 2))
        + (rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >>> 3))
        + load<u32>(w + ((t & 15) << 2));
    }
    store<u32>(w + ((t & 15) << 2), x);
    // step 3: T1 = h + S1(e) + Ch(e,f,g) + K(t) + W(t); T2 = S0(a) + Maj(a,b,c)
    const t1 = h + (rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25))
      + (g ^ (e & (f ^ g))) + load<u32>(K + (t << 2)) + x;
    const t2 = (rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22)) + ((a & b) | (c & (a | b)));
    h = g; g = f; f = e; e = d + t1;
    d = c; c = b; b = a; a = t1 + t2;
  }
  // step 4
  store<u32>(ctx, load<u32>(ctx, 0) + a, 0);
  store<u32>(ctx, load<u32>(ctx, 4) + b, 4);
  store<u32>(ctx, load<u32>(ctx, 8) + c, 8);
  store<u32>(ctx, load<u32>(ctx, 12) + d, 12);
  store<u32>(ctx, load<u32>(ctx, 16) + e, 16);
  store<u32>(ctx, load<u32>(ctx, 20) + f, 20);
  store<u32>(ctx, load<u32>(ctx, 24) + g, 24);
  store<u32>(ctx, load<u32>(ctx, 28) + h, 28);
}

export function sha256Init(ctx: usize): void {
  memory.copy(ctx, H0, 32);
  store<u64>(ctx + LEN, 0);
}

/** Absorb [data, data+len); len <= 0 does nothing. data may be any address,
 *  including inside this context's own block buffer. */
export function sha256Update(ctx: usize, data: usize, len: i32): void {
  if (len <= 0) return;
  const total = load<u64>(ctx + LEN);
  store<u64>(ctx + LEN, total + <u64>len);
  let used = <i32>total & 63;
  while (len > 0) {
    let n = 64 - used;
    if (n > len) n = len;
    memory.copy(ctx + SHA256_BUF + <usize>used, data, <usize>n);
    data += <usize>n;
    len -= n;
    used += n;
    if (used == 64) {
      compress(ctx);
      used = 0;
    }
  }
}

/** Pad (FIPS 180-4 5.1.1), write the 32-byte digest to out, wipe the context.
 *  out may not overlap the context. */
export function sha256Final(ctx: usize, out: usize): void {
  const total = load<u64>(ctx + LEN);
  const buf = ctx + SHA256_BUF;
  let used = <usize>(<i32>total & 63);
  store<u8>(buf + used, 0x80);
  used++;
  if (used > 56) {
    memory.fill(buf + used, 0, 64 - used);
    compress(ctx);
    used = 0;
  }
  memory.fill(buf + used, 0, 56 - used);
  storeBe64(buf + 56, total << 3);
  compress(ctx);
  for (let i: usize = 0; i < 32; i += 4) storeBe32(out + i, load<u32>(ctx + i));
  wipe(ctx, USED_SIZE);
}

/** Snapshot a running hash: dst continues exactly as src would. */
export function sha256Copy(dst: usize, src: usize): void {
  memory.copy(dst, src, <usize>USED_SIZE);
}

/** One-shot SHA-256 of [data, data+len) into out (32 bytes). Not reentrant. */
export function sha256(data: usize, len: i32, out: usize): void {
  sha256Init(hashScratch);
  sha256Update(hashScratch, data, len);
  sha256Final(hashScratch, out);
}

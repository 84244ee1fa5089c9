// CBOR encoder (RFC 8949) over a caller-owned buffer, after tinycbor's CborEncoder.
// No allocation: place a CborEncoder at caller memory (CBOR_ENCODER_SIZE bytes)
//   const enc = changetype<CborEncoder>(statePtr); enc.init(buf, cap);
// Errors are sticky: the first one is kept in `err`, nothing more is written,
// but `pos` keeps counting, so after OutOfSpace it is the number of bytes the
// whole encoding needs (tinycbor's cbor_encoder_get_extra_bytes_needed + cap).
// Containers are written flat: a definite array/map is its head followed by
// its items; an indefinite one is beginIndefinite*() ... encodeBreak().
import { CborError } from "./common";

@unmanaged
export class CborEncoder {
  /** Start of the output buffer. */
  buf: usize = 0;
  /** Capacity of the output buffer in bytes. */
  cap: u32 = 0;
  /** Bytes written so far; once err != 0, bytes the encoding needs so far. */
  pos: u32 = 0;
  /** First error (CborError), sticky. */
  err: i32 = 0;

  init(buf: usize, cap: i32): void {
    this.buf = buf;
    this.cap = <u32>max(cap, 0);
    this.pos = 0;
    this.err = 0;
  }

  /** Bytes written (err == 0) or needed (err == OutOfSpace) so far. */
  @inline get needed(): i32 { return <i32>this.pos; }

  /** Claims n bytes; returns where to write them, or 0 when out of space / in error. */
  private reserve(n: u32): usize {
    const at = this.pos;
    this.pos = at + n;
    if (this.err) return 0;
    if (<u64>at + n > <u64>this.cap) {
      this.err = CborError.OutOfSpace;
      return 0;
    }
    return this.buf + at;
  }

  /** Writes initial byte b0 then the low n bytes of v big-endian (RFC 8949 §3). */
  private raw(b0: u32, v: u64, n: u32): void {
    const d = this.reserve(n + 1);
    if (!d) return;
    store<u8>(d, b0);
    for (let i = n; i > 0; i--) {
      store<u8>(d + i, <u8>v);
      v >>= 8;
    }
  }

  /** Head with major type bits ib (major << 5) and argument v, shortest form (RFC 8949 §4.2.1). */
  head(ib: u32, v: u64): void {
    let n: u32 = 0;
    let ai = <u32>v;
    if (v >= 24) {
      n = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffff ? 4 : 8;
      ai = 24 + ctz(n);
    }
    this.raw(ib | ai, v, n);
  }

  /** Major type 0: v. */
  encodeUint(v: u64): void { this.head(0x00, v); }
  /** Major type 1: the integer -1 - n (n = 0xffffffffffffffff gives -2^64). */
  encodeNegative(n: u64): void { this.head(0x20, n); }
  /** Any i64, as major type 0 or 1. */
  encodeInt(v: i64): void {
    const m = v >> 63; // all ones when negative: -1 - v == v ^ m
    this.head(<u32>m & 0x20, <u64>(v ^ m));
  }

  /** Definite byte string (major 2), or one chunk inside beginIndefiniteBytes(). */
  encodeBytes(p: usize, len: i32): void { this.string(0x40, p, len); }
  /** Definite text string (major 3), or one chunk inside beginIndefiniteText(). Bytes must be UTF-8. */
  encodeText(p: usize, len: i32): void { this.string(0x60, p, len); }
  private string(ib: u32, p: usize, len: i32): void {
    const n = <u32>max(len, 0);
    this.head(ib, n);
    const d = this.reserve(n);
    if (d) memory.copy(d, p, n);
  }

  /** Array head with `count` items to follow (major 4). */
  encodeArray(count: u32): void { this.head(0x80, count); }
  /** Map head with `count` key/value pairs to follow (major 5). */
  encodeMap(count: u32): void { this.head(0xa0, count); }
  /** Indefinite-length item of major type 2, 3, 4 or 5 (RFC 8949 §3.2); close with encodeBreak(). */
  beginIndefinite(major: u32): void { this.raw((major << 5) | 31, 0, 0); }
  @inline beginIndefiniteBytes(): void { this.beginIndefinite(2); }
  @inline beginIndefiniteText(): void { this.beginIndefinite(3); }
  @inline beginIndefiniteArray(): void { this.beginIndefinite(4); }
  @inline beginIndefiniteMap(): void { this.beginIndefinite(5); }
  /** The "break" stop code (0xff) that closes an indefinite-length item. */
  encodeBreak(): void { this.raw(0xff, 0, 0); }

  /** Tag head (major 6); the tagged item follows. */
  encodeTag(tag: u64): void { this.head(0xc0, tag); }

  /** Simple value (major 7): 0..23 or 32..255; 24..31 are not well-formed (RFC 8949 §3.3). */
  encodeSimple(v: u32): void {
    if (v > 255 || (v >= 24 && v < 32)) {
      if (!this.err) this.err = CborError.IllegalSimple;
      return;
    }
    this.head(0xe0, v);
  }
  encodeBool(b: bool): void { this.raw(b ? 0xf5 : 0xf4, 0, 0); }
  encodeNull(): void { this.raw(0xf6, 0, 0); }
  encodeUndefined(): void { this.raw(0xf7, 0, 0); }

  /**
   * f64 in preferred serialization (RFC 8949 §4.2.1/§4.2.2): the shortest of
   * half, single, double that represents the value exactly; every NaN as
   * 0xf97e00; ±Infinity and ±0 as half.
   */
  encodeFloat(d: f64): void {
    if (d != d) { this.raw(0xf9, 0x7e00, 2); return; }
    const f = <f32>d;
    if (<f64>f == d) {
      const b = reinterpret<u32>(f);
      const h = halfFromSingleExact(b);
      if (h >= 0) this.raw(0xf9, <u64>h, 2);
      else this.raw(0xfa, b, 4);
    } else {
      this.raw(0xfb, reinterpret<u64>(d), 8);
    }
  }

  /** Float of a fixed width, raw IEEE 754 bits: ai 25 (half), 26 (single) or 27 (double). */
  encodeFloatBits(ai: u32, bits: u64): void {
    this.raw(0xe0 | ai, bits, <u32>1 << (ai - 24));
  }
}

/**
 * binary16 bits for a binary32 (bits b, not NaN) when the conversion is exact,
 * else -1. Covers ±0, ±Infinity, normal and subnormal halves (IEEE 754 §3.6).
 */
export function halfFromSingleExact(b: u32): i32 {
  const s = <i32>(b >> 16) & 0x8000;
  const e = <i32>((b >> 23) & 0xff) - 127; // unbiased exponent
  const m = b & 0x7fffff;
  if (e == 128) return s | 0x7c00; // Infinity (NaN is handled by the caller)
  if (e == -127) return m ? -1 : s; // ±0; a single subnormal is below every half
  if (e >= -14) {
    if (e > 15 || (m & 0x1fff)) return -1;
    return s | ((e + 15) << 10) | <i32>(m >> 13);
  }
  if (e < -24) return -1;
  // half subnormal: value = k * 2^-24 with k = significand >> (-1 - e)
  const sig = m | 0x800000;
  const sh = <u32>(-1 - e);
  if (sig & ((<u32>1 << sh) - 1)) return -1;
  return s | <i32>(sig >> sh);
}

/** Bytes a CborEncoder takes in caller memory. */
export const CBOR_ENCODER_SIZE: i32 = <i32>offsetof<CborEncoder>();

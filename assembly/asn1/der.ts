// DER (ITU-T X.690 section 10, the distinguished subset of BER section 8):
// a zero-copy TLV reader over [p, end) and a small writer into caller
// buffers. Hostile input gets DerError.Malformed, never a trap: every read
// is bounded by `end`, lengths are definite and minimal, no recursion.
//
// The reader keeps the element it last read in four module globals (derTag,
// derVal, derLen, derEnd) instead of returning a struct: no allocation, and
// callers read them right after a successful call.

export namespace DerError {
  export const Malformed: i32 = -100; // not valid DER, or a length beyond the buffer
  export const TooSmall: i32 = -101; // writer: the output buffer is too small
}

/** Universal tags (X.680 8.4) and the constructed forms used by X.509. */
export namespace Tag {
  export const BOOLEAN: i32 = 0x01;
  export const INTEGER: i32 = 0x02;
  export const BIT_STRING: i32 = 0x03;
  export const OCTET_STRING: i32 = 0x04;
  export const NULL: i32 = 0x05;
  export const OID: i32 = 0x06;
  export const UTF8_STRING: i32 = 0x0c;
  export const PRINTABLE_STRING: i32 = 0x13;
  export const T61_STRING: i32 = 0x14;
  export const IA5_STRING: i32 = 0x16;
  export const UTC_TIME: i32 = 0x17;
  export const GENERALIZED_TIME: i32 = 0x18;
  export const UNIVERSAL_STRING: i32 = 0x1c;
  export const BMP_STRING: i32 = 0x1e;
  export const SEQUENCE: i32 = 0x30;
  export const SET: i32 = 0x31;
  /** Context-specific class, constructed: [n] EXPLICIT or a constructed IMPLICIT. */
  export const CONTEXT_CONSTRUCTED: i32 = 0xa0;
  /** Context-specific class, primitive: [n] IMPLICIT of a primitive type. */
  export const CONTEXT_PRIMITIVE: i32 = 0x80;
}

/** Tag octet of the element last read. */
export let derTag: i32 = 0;
/** First contents octet of the element last read. */
export let derVal: usize = 0;
/** Number of contents octets of the element last read. */
export let derLen: i32 = 0;
/** First octet after the element last read. */
export let derEnd: usize = 0;
/** Seconds since the Unix epoch of the last time read by derTime(). */
export let derSeconds: i64 = 0;

/** Reads one TLV at p, bounded by end. 0 or DerError.Malformed. */
export function derNext(p: usize, end: usize): i32 {
  if (p >= end || end - p < 2) return DerError.Malformed;
  const tag = <i32>load<u8>(p);
  // X.690 8.1.2.4: high tag numbers (>= 31) take more octets; X.509 and
  // PKCS#10 never use them, so they are refused rather than parsed.
  if ((tag & 0x1f) == 0x1f) return DerError.Malformed;
  let q = p + 2;
  let n = <u32>load<u8>(p + 1);
  if (n >= 0x80) {
    // X.690 8.1.3.5 long form; 0x80 alone is the indefinite form (8.1.3.6),
    // which DER forbids (10.1). More than 3 octets (16 MiB) is refused.
    const k = <usize>(n & 0x7f);
    if (k == 0 || k > 3 || k > end - q) return DerError.Malformed;
    n = 0;
    for (let i: usize = 0; i < k; i++) n = (n << 8) | <u32>load<u8>(q + i);
    q += k;
    // X.690 10.1: the definite form with the minimum number of octets.
    if (n < 0x80 || (k > 1 && (n >>> (<u32>(k - 1) << 3)) == 0)) return DerError.Malformed;
  }
  if (<usize>n > end - q) return DerError.Malformed;
  derTag = tag;
  derVal = q;
  derLen = <i32>n;
  derEnd = q + <usize>n;
  return 0;
}

/** derNext, and the tag must be `tag`. */
export function derExpect(p: usize, end: usize, tag: i32): i32 {
  const r = derNext(p, end);
  if (r < 0) return r;
  return derTag == tag ? 0 : DerError.Malformed;
}

/** INTEGER with minimal two's-complement contents (X.690 8.3.2). */
export function derInteger(p: usize, end: usize): i32 {
  const r = derExpect(p, end, Tag.INTEGER);
  if (r < 0) return r;
  if (derLen == 0) return DerError.Malformed;
  if (derLen > 1) {
    const b0 = load<u8>(derVal), b1 = load<u8>(derVal + 1);
    if ((b0 == 0 && b1 < 0x80) || (b0 == 0xff && b1 >= 0x80)) return DerError.Malformed;
  }
  return 0;
}

/** A non-negative INTEGER below 2^31: returns its value, or DerError.Malformed. */
export function derSmallUint(p: usize, end: usize): i32 {
  const r = derInteger(p, end);
  if (r < 0) return r;
  if (derLen > 4 || load<u8>(derVal) >= 0x80) return DerError.Malformed;
  let v: i32 = 0;
  for (let i = 0; i < derLen; i++) v = (v << 8) | <i32>load<u8>(derVal + <usize>i);
  return v;
}

/** BOOLEAN: 1 (TRUE, 0xFF) or 0 (FALSE, 0x00); DER allows no other value (X.690 11.1). */
export function derBoolean(p: usize, end: usize): i32 {
  const r = derExpect(p, end, Tag.BOOLEAN);
  if (r < 0) return r;
  if (derLen != 1) return DerError.Malformed;
  const v = load<u8>(derVal);
  if (v == 0xff) return 1;
  return v == 0 ? 0 : DerError.Malformed;
}

/** BIT STRING: returns the number of unused bits (0..7) and leaves derVal/derLen
 *  on the bits after the initial octet. Unused bits must be zero (X.690 11.2.1). */
export function derBitString(p: usize, end: usize): i32 {
  const r = derExpect(p, end, Tag.BIT_STRING);
  if (r < 0) return r;
  if (derLen == 0) return DerError.Malformed;
  const unused = <i32>load<u8>(derVal);
  if (unused > 7 || (derLen == 1 && unused != 0)) return DerError.Malformed;
  if (unused != 0 && (<i32>load<u8>(derEnd - 1) & ((1 << unused) - 1)) != 0) return DerError.Malformed;
  derVal += 1;
  derLen -= 1;
  return unused;
}

/** True when [a, a+n) equals [b, b+n). Early exit: for public data only
 *  (secrets use crypto/ct ctEqual). One copy instead of inlined memcmp. */
export function bytesEqual(a: usize, b: usize, n: i32): bool {
  for (let i = 0; i < n; i++) {
    if (load<u8>(a + <usize>i) != load<u8>(b + <usize>i)) return false;
  }
  return true;
}

/** True when [val, val+len) equals the OID contents at `oid` (first byte = length). */
export function oidIs(val: usize, len: i32, oid: usize): bool {
  return len == <i32>load<u8>(oid) && bytesEqual(val, oid + 1, len);
}

/** Two ASCII digits at p as 0..99, or -1. */
function digits2(p: usize): i32 {
  const a = <i32>load<u8>(p) - 0x30, b = <i32>load<u8>(p + 1) - 0x30;
  if (<u32>a > 9 || <u32>b > 9) return -1;
  return a * 10 + b;
}

/** Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 *  (H. Hinnant's days_from_civil). */
function daysFromCivil(y: i32, m: i32, d: i32): i64 {
  if (m <= 2) y -= 1;
  const era = (y >= 0 ? y : y - 399) / 400;
  const yoe = y - era * 400;
  const doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return <i64>era * 146097 + <i64>doe - 719468;
}

/** UTCTime "YYMMDDHHMMSSZ" or GeneralizedTime "YYYYMMDDHHMMSSZ" (the DER forms of
 *  RFC 5280 4.1.2.5.1/4.1.2.5.2: seconds present, no fraction, Zulu). The value is
 *  left in derSeconds. 0 or DerError.Malformed. */
export function derTime(p: usize, end: usize): i32 {
  const r = derNext(p, end);
  if (r < 0) return r;
  let s = derVal;
  let year: i32;
  if (derTag == Tag.UTC_TIME && derLen == 13) {
    year = digits2(s);
    if (year < 0) return DerError.Malformed;
    year += year < 50 ? 2000 : 1900; // RFC 5280 4.1.2.5.1
    s += 2;
  } else if (derTag == Tag.GENERALIZED_TIME && derLen == 15) {
    const hi = digits2(s), lo = digits2(s + 2);
    if (hi < 0 || lo < 0) return DerError.Malformed;
    year = hi * 100 + lo;
    s += 4;
  } else {
    return DerError.Malformed;
  }
  const mo = digits2(s), d = digits2(s + 2), h = digits2(s + 4), mi = digits2(s + 6), sec = digits2(s + 8);
  if (load<u8>(s + 10) != 0x5a) return DerError.Malformed; // 'Z'
  if (mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return DerError.Malformed;
  let dim: i32 = 31;
  if (mo == 4 || mo == 6 || mo == 9 || mo == 11) dim = 30;
  else if (mo == 2) dim = (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28;
  if (d > dim) return DerError.Malformed;
  derSeconds = daysFromCivil(year, mo, d) * 86400 + <i64>(h * 3600 + mi * 60 + sec);
  return 0;
}

// ---- writer --------------------------------------------------------------

/** Octets of the identifier + length header for `len` contents octets. */
export function derHeaderLen(len: i32): i32 {
  return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : 5;
}

/** Writes tag + minimal definite length at out; returns the header length.
 *  The caller has checked the capacity (derHeaderLen). */
export function derPutHeader(out: usize, tag: i32, len: i32): i32 {
  store<u8>(out, <u8>tag);
  const h = derHeaderLen(len);
  if (h == 2) {
    store<u8>(out + 1, <u8>len);
  } else {
    store<u8>(out + 1, <u8>(0x80 | (h - 2)));
    for (let i = 0; i < h - 2; i++) store<u8>(out + <usize>(h - 1 - i), <u8>(len >>> (i << 3)));
  }
  return h;
}

/** tag + length + a copy of [val, val+len) into [out, out+cap): total octets
 *  written, or DerError.TooSmall. `val` may overlap `out` (memory.copy). */
export function derPut(out: usize, cap: i32, tag: i32, val: usize, len: i32): i32 {
  if (len < 0) return DerError.Malformed;
  const h = derHeaderLen(len);
  if (h + len > cap || h + len < 0) return DerError.TooSmall;
  memory.copy(out + <usize>h, val, <usize>len);
  derPutHeader(out, tag, len);
  return h + len;
}

/** An INTEGER from an unsigned big-endian magnitude (leading zeros dropped,
 *  a 0x00 added when the top bit is set, X.690 8.3.2). Octets written, or DerError.TooSmall. */
export function derPutUnsigned(out: usize, cap: i32, mag: usize, len: i32): i32 {
  while (len > 1 && load<u8>(mag) == 0) { mag++; len--; }
  if (len <= 0) return DerError.Malformed;
  const pad: i32 = load<u8>(mag) >= 0x80 ? 1 : 0;
  const n = len + pad;
  const h = derHeaderLen(n);
  if (h + n > cap) return DerError.TooSmall;
  memory.copy(out + <usize>(h + pad), mag, <usize>len);
  if (pad) store<u8>(out + <usize>h, 0);
  derPutHeader(out, Tag.INTEGER, n);
  return h + n;
}

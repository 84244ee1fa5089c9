// Text forms of LwM2M values, heap-free: decimal scanning with the JSON number
// grammar (RFC 8259 §6), exact integer conversion, correctly rounded
// decimal -> binary64 conversion, round-trip float printing, integer printing,
// base64 / base64url (RFC 4648 §4, §5) and UTF-8 validation (RFC 3629 §4).
// Results of a scan live in module state (the firmware is single-threaded).

// ---------------------------------------------------------------------------
// Decimal scanning

/** Last scanned number: (-1)^neg * mant * 10^exp, plus `sticky` when nonzero digits were dropped. */
export let numNeg: bool = false;
export let numMant: u64 = 0;
export let numExp: i32 = 0;
export let numSticky: bool = false;
/** The last scan had a fraction or an exponent part. */
export let numHasFrac: bool = false;
/** Where the last scanned token's digits are (for the exact fallback of decimalToF64), 0 if none. */
let numText: usize = 0;
let numTextEnd: usize = 0;
/** Exponent of the last digit of the text's significand, and its count of significant digits. */
let numTextExp: i32 = 0;
let numTextDigits: i32 = 0;

const U64_DIV10: u64 = 1844674407370955161; // floor(2^64-1 / 10)

/**
 * Scans a number at p with the JSON grammar (RFC 8259 §6):
 *   [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ ("e"/"E") ["+"/"-"] 1*DIGIT ]
 * Returns the end of the token, or 0 when there is no valid number at p.
 * Keeps up to 20 significant digits exactly (all of u64), the rest as `sticky`.
 */
export function scanNumber(p: usize, end: usize): usize {
  let neg = false;
  let mant: u64 = 0;
  let exp: i32 = 0;
  let sticky = false;
  let frac = false;
  let fracDigits: i32 = 0;
  let sig: i32 = 0;
  if (p < end && load<u8>(p) == 0x2d) { neg = true; p++; }
  const text = p;
  if (p >= end) return 0;
  let c = <u32>load<u8>(p);
  if (c == 0x30) {
    p++; // a leading zero stands alone
  } else if (c - 0x31 < 9) {
    while (p < end) {
      c = <u32>load<u8>(p) - 0x30;
      if (c > 9) break;
      if (mant < U64_DIV10 || (mant == U64_DIV10 && c <= 5)) mant = mant * 10 + c;
      else { exp++; if (c) sticky = true; }
      sig++;
      p++;
    }
  } else {
    return 0;
  }
  if (p < end && load<u8>(p) == 0x2e) {
    frac = true;
    p++;
    const start = p;
    while (p < end) {
      c = <u32>load<u8>(p) - 0x30;
      if (c > 9) break;
      if (mant < U64_DIV10 || (mant == U64_DIV10 && c <= 5)) {
        mant = mant * 10 + c; // leading zeros only move the point
        exp--;
      } else if (c) {
        sticky = true;
      }
      if (sig || c) sig++;
      p++;
    }
    fracDigits = <i32>(p - start);
    if (p == start) return 0;
  }
  const textEnd = p;
  if (p < end && (load<u8>(p) | 0x20) == 0x65) {
    frac = true;
    p++;
    let eneg = false;
    if (p < end) {
      c = <u32>load<u8>(p);
      if (c == 0x2b || c == 0x2d) { eneg = c == 0x2d; p++; }
    }
    const start = p;
    let e: i32 = 0;
    while (p < end) {
      c = <u32>load<u8>(p) - 0x30;
      if (c > 9) break;
      if (e < 100000) e = e * 10 + <i32>c; // saturate: far beyond any binary64
      p++;
    }
    if (p == start) return 0;
    if (eneg) e = -e;
    exp += e;
    numTextExp = e - fracDigits;
  } else {
    numTextExp = -fracDigits;
  }
  numText = text;
  numTextEnd = textEnd;
  numTextDigits = sig;
  numNeg = neg;
  numMant = mant;
  numExp = exp;
  numSticky = sticky;
  numHasFrac = frac;
  return p;
}

/** Sets the scanned-number state directly (CBOR integers and decimal fractions). */
export function setDecimal(neg: bool, mant: u64, exp: i32): void {
  numNeg = neg;
  numMant = mant;
  numExp = exp;
  numSticky = false;
  numHasFrac = exp != 0;
  numText = 0;
}

const POW10 = memory.data<u64>([
  1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
  10000000000, 100000000000, 1000000000000, 10000000000000, 100000000000000,
  1000000000000000, 10000000000000000, 100000000000000000, 1000000000000000000,
  10000000000000000000,
]);

/** Result flag of the conversions below: 0 ok, else a negative FormatError-compatible code. */
export let numErr: i32 = 0;
export const NUM_MALFORMED: i32 = -1; // FormatError.Malformed
export const NUM_MISMATCH: i32 = -4; // FormatError.TypeMismatch (not an integer)
export const NUM_RANGE: i32 = -5; // FormatError.Range

/**
 * The scanned decimal as an exact magnitude in u64 (numNeg tells the sign).
 * numErr = NUM_MISMATCH when it has a nonzero fraction, NUM_RANGE above 2^64-1.
 */
export function decimalMagnitude(): u64 {
  numErr = 0;
  let m = numMant;
  let e = numExp;
  if (numSticky) {
    // nonzero digits beyond the 20 kept: a magnitude >= 10^20 (e > 0) or a fraction
    numErr = e > 0 ? NUM_RANGE : NUM_MISMATCH;
    return 0;
  }
  if (m == 0) return 0;
  while (e < 0 && m % 10 == 0) { m /= 10; e++; }
  if (e < 0) { numErr = NUM_MISMATCH; return 0; }
  if (e > 19) { numErr = NUM_RANGE; return 0; }
  const f = load<u64>(POW10 + (<usize>e << 3));
  if (e && m > u64.MAX_VALUE / f) { numErr = NUM_RANGE; return 0; }
  return m * f;
}

/** The scanned decimal as i64; numErr set as for decimalMagnitude (NUM_RANGE outside i64). */
export function decimalToI64(): i64 {
  const m = decimalMagnitude();
  if (numErr) return 0;
  if (numNeg) {
    if (m > <u64>i64.MAX_VALUE + 1) { numErr = NUM_RANGE; return 0; }
    return -<i64>m; // wraps correctly for -2^63
  }
  if (m > <u64>i64.MAX_VALUE) { numErr = NUM_RANGE; return 0; }
  return <i64>m;
}

/** The scanned decimal as u64; negative nonzero values are NUM_RANGE. */
export function decimalToU64(): u64 {
  const m = decimalMagnitude();
  if (numErr) return 0;
  if (numNeg && m) { numErr = NUM_RANGE; return 0; }
  return m;
}

// ---------------------------------------------------------------------------
// Correctly rounded decimal -> binary64 (round half to even), by refining an
// approximation with exact big-integer comparisons against the midpoints
// between neighbouring doubles (Clinger's AlgorithmR). Big integers are fixed
// arrays of u32 limbs in static memory.

const BIG_LIMBS: i32 = 64; // 2048 bits: operands stay below ~1300 bits with at most MAX_EXACT_DIGITS digits
/** Significant digits the exact fallback reads from the text; longer numbers that need them are refused. */
const MAX_EXACT_DIGITS: i32 = 200;
const BIG_BYTES: usize = <usize>(BIG_LIMBS + 1) << 2;
const BIG_A = memory.data(<i32>BIG_BYTES, 4); // [u32 used limbs][limbs, little-endian]
const BIG_B = memory.data(<i32>BIG_BYTES, 4);
let bigOverflow = false;

// @ts-ignore: decorator
@inline function bigLen(a: usize): i32 { return load<i32>(a); }
// @ts-ignore: decorator
@inline function limb(a: usize, i: i32): usize { return a + 4 + (<usize>i << 2); }

function bigSet(a: usize, v: u64): void {
  store<u32>(limb(a, 0), <u32>v);
  store<u32>(limb(a, 1), <u32>(v >> 32));
  store<i32>(a, v >> 32 ? 2 : v ? 1 : 0);
}

function bigMulSmall(a: usize, m: u32): void {
  const n = bigLen(a);
  let carry: u64 = 0;
  for (let i = 0; i < n; i++) {
    const t = <u64>load<u32>(limb(a, i)) * m + carry;
    store<u32>(limb(a, i), <u32>t);
    carry = t >> 32;
  }
  if (carry) {
    if (n >= BIG_LIMBS) { bigOverflow = true; return; }
    store<u32>(limb(a, n), <u32>carry);
    store<i32>(a, n + 1);
  }
}

function bigMulPow5(a: usize, e: i32): void {
  while (e >= 13) { bigMulSmall(a, 1220703125); e -= 13; } // 5^13
  if (e > 0) bigMulSmall(a, <u32>(load<u64>(POW10 + (<usize>e << 3)) >> <u64>e)); // 5^e = 10^e / 2^e
}

function bigShl(a: usize, bits: i32): void {
  const n = bigLen(a);
  if (n == 0 || bits == 0) return;
  const words = bits >> 5;
  const sh = <u32>(bits & 31);
  const top = n + words + 1;
  if (top > BIG_LIMBS) { bigOverflow = true; return; }
  store<u32>(limb(a, top - 1), 0);
  for (let i = n - 1; i >= 0; i--) {
    const v = <u64>load<u32>(limb(a, i)) << sh;
    store<u32>(limb(a, i + words + 1), load<u32>(limb(a, i + words + 1)) | <u32>(v >> 32));
    store<u32>(limb(a, i + words), <u32>v);
  }
  for (let i = 0; i < words; i++) store<u32>(limb(a, i), 0);
  let len = top;
  while (len > 0 && load<u32>(limb(a, len - 1)) == 0) len--;
  store<i32>(a, len);
}

function bigCmp(a: usize, b: usize): i32 {
  const na = bigLen(a);
  const nb = bigLen(b);
  if (na != nb) return na > nb ? 1 : -1;
  for (let i = na - 1; i >= 0; i--) {
    const x = load<u32>(limb(a, i));
    const y = load<u32>(limb(b, i));
    if (x != y) return x > y ? 1 : -1;
  }
  return 0;
}

/** BIG_A = the significand digits of the scanned text as one integer. */
function bigFromText(): void {
  store<i32>(BIG_A, 0);
  for (let p = numText; p < numTextEnd; p++) {
    const d = <u32>load<u8>(p) - 0x30;
    if (d > 9) continue; // the point
    bigMulSmall(BIG_A, 10);
    if (d) {
      // add d
      let i = 0;
      let carry: u64 = d;
      const n = bigLen(BIG_A);
      while (carry && i < n) {
        const t = <u64>load<u32>(limb(BIG_A, i)) + carry;
        store<u32>(limb(BIG_A, i), <u32>t);
        carry = t >> 32;
        i++;
      }
      if (carry) {
        if (n >= BIG_LIMBS) { bigOverflow = true; return; }
        store<u32>(limb(BIG_A, n), <u32>carry);
        store<i32>(BIG_A, n + 1);
      }
    }
  }
}

/** sign(m * 10^q - h * 2^k), exactly; m = 0 means the scanned text's digits (BIG_A filled by the caller). */
function cmpScaled(m: u64, q: i32, h: u64, k: i32): i32 {
  if (m) bigSet(BIG_A, m);
  else bigFromText();
  bigSet(BIG_B, h);
  let ea = q; // power of two on the left
  if (q >= 0) bigMulPow5(BIG_A, q);
  else bigMulPow5(BIG_B, -q);
  const d = ea - k;
  if (d >= 0) bigShl(BIG_A, d);
  else bigShl(BIG_B, -d);
  return bigCmp(BIG_A, BIG_B);
}

let ambiguous = false;

/**
 * sign(D - h * 2^k) for the scanned decimal D. With `sticky`, D lies strictly
 * between M*10^q and (M+1)*10^q; when h lies in between too, every digit of
 * the text decides (up to MAX_EXACT_DIGITS of them, else `ambiguous`).
 */
function cmpDecimal(h: u64, k: i32): i32 {
  const lo = cmpScaled(numMant, numExp, h, k);
  if (!numSticky) return lo;
  if (lo >= 0) return 1;
  if (numMant < u64.MAX_VALUE && cmpScaled(numMant + 1, numExp, h, k) <= 0) return -1;
  if (!numText || numTextDigits > MAX_EXACT_DIGITS) { ambiguous = true; return 0; }
  return cmpScaled(0, numTextExp, h, k);
}

const EXACT_POW10 = memory.data<f64>([
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]);

// @ts-ignore: decorator
@inline function pow10f(e: i32): f64 { return load<f64>(EXACT_POW10 + (<usize>e << 3)); }

/** x * 10^e in binary64 arithmetic (a few ulps off; the callers refine exactly). */
function scale10(x: f64, e: i32): f64 {
  while (e > 22) { x *= 1e22; e -= 22; }
  while (e < -22) { x /= 1e22; e += 22; }
  return e >= 0 ? x * pow10f(e) : x / pow10f(-e);
}

function decimalDigits(m: u64): i32 {
  let n = 1;
  while (n < 20 && m >= load<u64>(POW10 + (<usize>n << 3))) n++;
  return n;
}

/**
 * The scanned decimal as the nearest binary64 (ties to even). numErr =
 * NUM_RANGE when it is beyond the largest finite double (or, with more than
 * 20 significant digits, too close to a midpoint to decide).
 */
export function decimalToF64(): f64 {
  numErr = 0;
  const neg = numNeg;
  const m = numMant;
  const q = numExp;
  if (m == 0) return neg ? -0.0 : 0.0;
  const nd = decimalDigits(m);
  if (q + nd > 310) { numErr = NUM_RANGE; return 0; }
  if (q + nd < -324) return neg ? -0.0 : 0.0; // below half the smallest subnormal
  let x: f64;
  if (!numSticky && m <= (<u64>1 << 53) && q >= -22 && q <= 22) {
    // Clinger's fast path: both operands exact, one rounding
    x = q >= 0 ? <f64>m * pow10f(q) : <f64>m / pow10f(-q);
    return neg ? -x : x;
  }
  // approximation within a few ulps, then exact refinement
  x = scale10(<f64>m, q);
  if (x == Infinity) x = f64.MAX_VALUE;
  if (x == 0) x = 5e-324;
  ambiguous = false;
  bigOverflow = false;
  for (let iter = 0; iter < 200; iter++) {
    const bits = reinterpret<u64>(x);
    const be = <i32>(bits >> 52);
    const frac = bits & 0xfffffffffffff;
    const mm = be ? frac | (<u64>1 << 52) : frac;
    const k = be ? be - 1075 : -1074;
    const up = cmpDecimal((mm << 1) + 1, k - 1); // against the upper midpoint
    if (up > 0 || (up == 0 && !ambiguous && (mm & 1))) {
      x = reinterpret<f64>(bits + 1);
      if (x == Infinity) { numErr = NUM_RANGE; return 0; }
      if (up > 0) continue;
      break;
    }
    if (up == 0) break;
    // against the lower midpoint (a quarter ulp below at the bottom of a binade)
    const down = frac == 0 && be > 1 ? cmpDecimal((mm << 2) - 1, k - 2) : cmpDecimal((mm << 1) - 1, k - 1);
    if (down < 0 || (down == 0 && !ambiguous && (mm & 1))) {
      x = reinterpret<f64>(bits - 1);
      if (down < 0 && x != 0) continue;
    }
    break;
  }
  if (ambiguous || bigOverflow) { numErr = NUM_RANGE; return 0; }
  return neg ? -x : x;
}

// ---------------------------------------------------------------------------
// Printing

/** Decimal digits of v at dst; returns the count (1..20). */
export function formatU64(dst: usize, v: u64): i32 {
  const n = decimalDigits(v);
  let p = dst + <usize>n;
  do {
    store<u8>(--p, <u8>(0x30 + <u32>(v % 10)));
    v /= 10;
  } while (v);
  return n;
}

/** Optional '-' and decimal digits of v at dst; returns the count (<= 20). */
export function formatI64(dst: usize, v: i64): i32 {
  if (v < 0) {
    store<u8>(dst, 0x2d);
    return 1 + formatU64(dst + 1, <u64>(-v)); // -2^63 wraps to 2^63 as u64
  }
  return formatU64(dst, <u64>v);
}

/** Longest output of formatF64. */
export const F64_MAX_CHARS: i32 = 32;
/** Scratch for one formatted number or path (single-threaded use). */
export const NUM_TMP = memory.data(F64_MAX_CHARS, 8);
const DIGITS = memory.data(24, 8);

/** round(v * 10^d) for v = m * 2^k and a result below 2^63, exactly (ties either way). */
function roundScaled(v: f64, m: u64, k: i32, d: i32): u64 {
  let n = <u64>nearest<f64>(scale10(v, d));
  for (let i = 0; i < 64; i++) {
    // m*2^k*10^d must lie within [n - 1/2, n + 1/2]
    if (cmpScaled((n << 1) + 1, -d, m, k + 1) < 0) n++;
    else if (n && cmpScaled((n << 1) - 1, -d, m, k + 1) > 0) n--;
    else break;
  }
  return n;
}

/**
 * A finite binary64 as the shortest decimal that reads back as the same
 * value (the fewest significant digits p whose correctly rounded p-digit
 * decimal round-trips through decimalToF64), in JavaScript number syntax:
 * "22.4", "18", "1e+21", "1.5e-7", "-0". Returns the length, or -1 for NaN
 * and infinities, which no text form carries.
 */
export function formatF64(dst: usize, v: f64): i32 {
  if (!isFinite(v)) return -1;
  let o = dst;
  const bits = reinterpret<u64>(v);
  if (bits >> 63) { store<u8>(o++, 0x2d); v = -v; }
  if (v == 0) { store<u8>(o, 0x30); return <i32>(o + 1 - dst); }
  const be = <i32>(bits >> 52) & 0x7ff;
  const m = be ? (bits & 0xfffffffffffff) | (<u64>1 << 52) : bits & 0xfffffffffffff;
  const k = be ? be - 1075 : -1074;
  // decimal exponent of the leading digit: an estimate from the binary one, corrected below
  let e = <i32>floor(<f64>(k + 63 - <i32>clz(m)) * 0.3010299956639812);
  let n: u64 = 0;
  let p = 1;
  for (; ; p++) {
    for (let i = 0; i < 4; i++) {
      n = roundScaled(v, m, k, p - 1 - e);
      if (n >= load<u64>(POW10 + (<usize>p << 3))) e++;
      else if (n < load<u64>(POW10 + (<usize>(p - 1) << 3))) e--;
      else break;
    }
    if (p == 17) break; // 17 significant digits always read back
    setDecimal(false, n, e - p + 1);
    if (decimalToF64() == v) break;
  }
  formatU64(DIGITS, n);
  while (p > 1 && load<u8>(DIGITS + <usize>p - 1) == 0x30) p--;
  if (e >= 21 || e <= -7) {
    store<u8>(o++, load<u8>(DIGITS));
    if (p > 1) {
      store<u8>(o++, 0x2e);
      memory.copy(o, DIGITS + 1, p - 1);
      o += <usize>p - 1;
    }
    store<u8>(o++, 0x65);
    store<u8>(o++, e < 0 ? 0x2d : 0x2b);
    o += <usize>formatU64(o, <u64>abs<i32>(e));
  } else if (e >= 0) {
    const int = e + 1;
    for (let i = 0; i < int; i++) store<u8>(o++, i < p ? load<u8>(DIGITS + i) : 0x30);
    if (p > int) {
      store<u8>(o++, 0x2e);
      memory.copy(o, DIGITS + <usize>int, p - int);
      o += <usize>(p - int);
    }
  } else {
    store<u8>(o++, 0x30);
    store<u8>(o++, 0x2e);
    for (let i = -1; i > e; i--) store<u8>(o++, 0x30);
    memory.copy(o, DIGITS, p);
    o += <usize>p;
  }
  return <i32>(o - dst);
}

// ---------------------------------------------------------------------------
// Base64 (RFC 4648): standard alphabet with padding (§4) or the URL-safe
// alphabet without padding (§5), as SenML "vd" requires (RFC 8428 §4.3).

const B64 = memory.data<u8>([
  65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90,
  97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122,
  48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 43, 47, 45, 95,
]); // A-Z a-z 0-9 + / (standard), - _ (URL-safe) at 64, 65

function b64char(v: u32, url: bool): u8 {
  return load<u8>(B64 + <usize>(url && v >= 62 ? v + 2 : v));
}

/** Encoded length of n bytes. */
export function base64Len(n: i32, url: bool): i32 {
  return url ? (n * 4 + 2) / 3 : ((n + 2) / 3) * 4;
}

/** Encodes src[0..n) at dst (base64Len bytes); returns the length. */
export function base64Encode(src: usize, n: i32, dst: usize, url: bool): i32 {
  let o = dst;
  let i = 0;
  for (; i + 3 <= n; i += 3) {
    const v = (<u32>load<u8>(src + i) << 16) | (<u32>load<u8>(src + i + 1) << 8) | load<u8>(src + i + 2);
    store<u8>(o, b64char(v >> 18, url));
    store<u8>(o + 1, b64char((v >> 12) & 63, url));
    store<u8>(o + 2, b64char((v >> 6) & 63, url));
    store<u8>(o + 3, b64char(v & 63, url));
    o += 4;
  }
  const r = n - i;
  if (r) {
    const v = (<u32>load<u8>(src + i) << 16) | (r == 2 ? <u32>load<u8>(src + i + 1) << 8 : 0);
    store<u8>(o++, b64char(v >> 18, url));
    store<u8>(o++, b64char((v >> 12) & 63, url));
    if (r == 2) store<u8>(o++, b64char((v >> 6) & 63, url));
    else if (!url) store<u8>(o++, 0x3d);
    if (!url) store<u8>(o++, 0x3d);
  }
  return <i32>(o - dst);
}

// @ts-ignore: decorator
@inline function b64value(c: u32): i32 {
  if (c - 0x41 < 26) return <i32>(c - 0x41);
  if (c - 0x61 < 26) return <i32>(c - 0x61 + 26);
  if (c - 0x30 < 10) return <i32>(c - 0x30 + 52);
  if (c == 0x2b || c == 0x2d) return 62;
  if (c == 0x2f || c == 0x5f) return 63;
  return -1;
}

/**
 * Decodes base64 or base64url (either alphabet, padding optional but exact
 * when present, unused trailing bits zero as RFC 4648 §3.5 allows a decoder
 * to require). Returns the byte count, NUM_MALFORMED, or -7 (OutOfSpace)
 * when it would not fit in cap. dst may equal src (decoding shrinks).
 */
export function base64Decode(src: usize, n: i32, dst: usize, cap: i32): i32 {
  let len = n;
  if (len && (len & 3) == 0 && load<u8>(src + len - 1) == 0x3d) {
    len--;
    if (load<u8>(src + len - 1) == 0x3d) len--;
  }
  if ((len & 3) == 1) return NUM_MALFORMED;
  const out = (len >> 2) * 3 + ((len & 3) ? (len & 3) - 1 : 0);
  if (out > cap) return -7;
  let acc: u32 = 0;
  let bits: u32 = 0;
  let o = dst;
  for (let i = 0; i < len; i++) {
    const v = b64value(load<u8>(src + i));
    if (v < 0) return NUM_MALFORMED;
    acc = (acc << 6) | <u32>v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      store<u8>(o++, <u8>(acc >> bits));
      acc &= (<u32>1 << bits) - 1;
    }
  }
  if (acc) return NUM_MALFORMED; // nonzero pad bits: not the canonical encoding
  return out;
}

// ---------------------------------------------------------------------------
// UTF-8 (RFC 3629 §4): no overlongs, no surrogates, nothing above U+10FFFF.

export function validUtf8(p: usize, n: i32): bool {
  const end = p + <usize>max(n, 0);
  while (p < end) {
    const c = <u32>load<u8>(p);
    if (c < 0x80) { p++; continue; }
    let need: i32;
    let min: u32;
    let cp: u32;
    if (c - 0xc2 < 0x1e) { need = 1; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { need = 2; cp = c & 0x0f; min = 0x800; }
    else if (c - 0xf0 < 5) { need = 3; cp = c & 0x07; min = 0x10000; }
    else return false;
    if (<usize>need >= end - p) return false;
    for (let i = 1; i <= need; i++) {
      const d = <u32>load<u8>(p + i);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp - 0xd800 < 0x800)) return false;
    p += 1 + need;
  }
  return true;
}

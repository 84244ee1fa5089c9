// A small strict JSON (RFC 8259) tokenizer over linear memory, no allocation:
// whitespace, strings (escapes, surrogate pairs, UTF-8 checked), numbers
// (numbers.ts scanNumber), literals, and an iterative skip of any value with
// a nesting limit. Functions return the position after the token, or 0.
import { scanNumber, validUtf8 } from "./numbers";

/** The last string scanned by jsonString contained a backslash escape. */
export let jsonEsc: bool = false;

/** Nesting limit of jsonSkipValue (one bit per level in a u32). */
export const JSON_MAX_DEPTH: i32 = 16;

/** Skips insignificant whitespace (RFC 8259 §2). */
export function jsonWs(p: usize, end: usize): usize {
  while (p < end) {
    const c = load<u8>(p);
    if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
    p++;
  }
  return p;
}

function hex4(p: usize): i32 {
  let v = 0;
  for (let i: usize = 0; i < 4; i++) {
    const c = <u32>load<u8>(p + i);
    let d: u32;
    if (c - 0x30 < 10) d = c - 0x30;
    else if ((c | 0x20) - 0x61 < 6) d = (c | 0x20) - 0x57;
    else return -1;
    v = (v << 4) | <i32>d;
  }
  return v;
}

/**
 * A string token at p (which must be '"'): RFC 8259 §7. Control characters
 * must be escaped, escapes must be valid, \u surrogates must pair up, the
 * bytes must be UTF-8. Returns the position after the closing quote.
 */
export function jsonString(p: usize, end: usize): usize {
  if (p >= end || load<u8>(p) != 0x22) return 0;
  const start = p + 1;
  let q = start;
  let esc = false;
  while (q < end) {
    const c = <u32>load<u8>(q);
    if (c == 0x22) {
      if (!validUtf8(start, <i32>(q - start))) return 0;
      jsonEsc = esc;
      return q + 1;
    }
    if (c < 0x20) return 0;
    if (c != 0x5c) { q++; continue; }
    esc = true;
    if (end - q < 2) return 0;
    const e = <u32>load<u8>(q + 1);
    if (e == 0x75) {
      if (end - q < 6) return 0;
      const u = hex4(q + 2);
      if (u < 0 || (u >= 0xdc00 && u < 0xe000)) return 0;
      q += 6;
      if (u >= 0xd800 && u < 0xdc00) {
        if (end - q < 6 || load<u8>(q) != 0x5c || load<u8>(q + 1) != 0x75) return 0;
        const lo = hex4(q + 2);
        if (lo < 0xdc00 || lo >= 0xe000) return 0;
        q += 6;
      }
    } else if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
      q += 2;
    } else {
      return 0;
    }
  }
  return 0;
}

/**
 * Copies the contents of a string already checked by jsonString (p..end
 * between the quotes) to dst with escapes resolved to UTF-8. Returns the
 * length, or -7 (OutOfSpace) when it does not fit in cap.
 */
export function jsonUnescape(p: usize, end: usize, dst: usize, cap: i32): i32 {
  let o: i32 = 0;
  while (p < end) {
    let c = <u32>load<u8>(p++);
    if (c == 0x5c) {
      const e = <u32>load<u8>(p++);
      if (e == 0x75) {
        c = <u32>hex4(p);
        p += 4;
        if (c >= 0xd800 && c < 0xdc00) {
          c = 0x10000 + ((c - 0xd800) << 10) + (<u32>hex4(p + 2) - 0xdc00);
          p += 6;
        }
        const n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        if (o + n > cap) return -7;
        const d = dst + <usize>o;
        if (n == 1) store<u8>(d, <u8>c);
        else {
          for (let i = n - 1; i > 0; i--) { store<u8>(d + i, <u8>(0x80 | (c & 0x3f))); c >>= 6; }
          store<u8>(d, <u8>((0xf00 >> n) | c)); // lead byte: 110xxxxx / 1110xxxx / 11110xxx
        }
        o += n;
        continue;
      }
      c = e == 0x62 ? 0x08 : e == 0x66 ? 0x0c : e == 0x6e ? 0x0a : e == 0x72 ? 0x0d : e == 0x74 ? 0x09 : e;
    }
    if (o >= cap) return -7;
    store<u8>(dst + <usize>o, <u8>c);
    o++;
  }
  return o;
}

/** JSON literals as packed ASCII (first byte lowest): true, false, null. */
export const LIT_TRUE: u64 = 0x65757274;
export const LIT_FALSE: u64 = 0x65736c6166;
export const LIT_NULL: u64 = 0x6c6c756e;

/** The literal `k` (packed ASCII, one of LIT_*) at p. */
export function jsonLiteral(p: usize, end: usize, k: u64): usize {
  for (; k; k >>= 8) {
    if (p >= end || <u64>load<u8>(p) != (k & 0xff)) return 0;
    p++;
  }
  return p;
}

/** One value of any type, nested at most JSON_MAX_DEPTH deep, checked and skipped. */
export function jsonSkipValue(p: usize, end: usize): usize {
  let depth = 0;
  let objects: u32 = 0; // bit d set: level d is an object
  while (true) {
    // a value
    p = jsonWs(p, end);
    if (p >= end) return 0;
    const c = <u32>load<u8>(p);
    let closed = false;
    if (c == 0x7b || c == 0x5b) {
      if (depth >= JSON_MAX_DEPTH) return 0;
      const obj = c == 0x7b;
      if (obj) objects |= <u32>1 << depth; else objects &= ~(<u32>1 << depth);
      depth++;
      p = jsonWs(p + 1, end);
      if (p < end && load<u8>(p) == (obj ? 0x7d : 0x5d)) {
        p++;
        depth--;
        closed = true;
      } else {
        if (obj && !(p = member(p, end))) return 0;
        continue;
      }
    } else if (c == 0x22) p = jsonString(p, end);
    else if (c == 0x74) p = jsonLiteral(p, end, LIT_TRUE);
    else if (c == 0x66) p = jsonLiteral(p, end, LIT_FALSE);
    else if (c == 0x6e) p = jsonLiteral(p, end, LIT_NULL);
    else p = scanNumber(p, end);
    if (!p) return 0;
    // after a value: ',' for the next one, or close containers
    while (true) {
      if (depth == 0) return p;
      p = jsonWs(p, end);
      if (p >= end) return 0;
      const d = <u32>load<u8>(p);
      const obj = (objects >> <u32>(depth - 1)) & 1;
      if (d == 0x2c) {
        p++;
        if (obj && !(p = member(p, end))) return 0;
        break;
      }
      if (d != (obj ? 0x7d : 0x5d)) return 0;
      p++;
      depth--;
    }
  }
  return 0;
}

/** `"key" :` inside an object; returns the position of the value. */
function member(p: usize, end: usize): usize {
  p = jsonString(jsonWs(p, end), end);
  if (!p) return 0;
  p = jsonWs(p, end);
  if (p >= end || load<u8>(p) != 0x3a) return 0;
  return p + 1;
}

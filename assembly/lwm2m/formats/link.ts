// application/link-format (40), RFC 6690 §2, as LwM2M 1.1 uses it: the
// Register / Update payload (§6.2.1, e.g. `</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>`)
// and Discover / Bootstrap-Discover responses (§6.3.5, §6.1.7, e.g.
// `</3/0/7>;dim=2;pmin=10`, `</0/1>;ssid=101;uri="coaps://..."`), plus the
// query-style attributes of Write-Attributes (§5.1.2 <NOTIFICATION> class:
// "pmin=10", "gt=25.5", "st" with no value = remove).
import { LwPath, FormatError, pathFormat } from "./types";
import { scanNumber, numHasFrac, numNeg, numErr, decimalToU64, decimalToF64, formatU64, formatF64, NUM_TMP } from "./numbers";

/** Link-format writer over a caller buffer; errors are sticky (OutOfSpace). */
@unmanaged
export class LinkWriter {
  buf: usize = 0;
  cap: u32 = 0;
  pos: u32 = 0;
  err: i32 = 0;
  count: i32 = 0;

  init(buf: usize, cap: i32): void {
    this.buf = buf;
    this.cap = <u32>max(cap, 0);
    this.pos = 0;
    this.err = 0;
    this.count = 0;
  }

  private reserve(n: i32): usize {
    if (this.err) return 0;
    const at = this.pos;
    if (<u64>at + <u64>n > <u64>this.cap) { this.err = FormatError.OutOfSpace; return 0; }
    this.pos = at + <u32>n;
    return this.buf + at;
  }
  private put8(c: u32): void {
    const d = this.reserve(1);
    if (d) store<u8>(d, c);
  }
  private putBytes(p: usize, n: i32): void {
    const d = this.reserve(n);
    if (d) memory.copy(d, p, n);
  }
  /**
   * An attribute name: packed ASCII in a u64 (first byte lowest, e.g. 0x6e696d70
   * = "pmin"; no UTF-16 literal in the data segment), or a string (tools, tests).
   */
  private putName<T>(name: T): void {
    if (isString<T>()) {
      const s = changetype<string>(name);
      for (let i = 0; i < s.length; i++) this.put8(<u32>s.charCodeAt(i));
    } else {
      for (let k = <u64>name; k; k >>= 8) this.put8(<u32>k & 0xff);
    }
  }

  /** `,</oid/iid/rid>` (no comma before the first link). */
  link(p: LwPath): i32 {
    return this.linkText(NUM_TMP, pathFormat(p, NUM_TMP));
  }
  /** `,<text>` for a target that is not an LwM2M path (e.g. "/" or an alternate path "/lwm2m"). */
  linkText(p: usize, n: i32): i32 {
    if (this.count++) this.put8(0x2c);
    this.put8(0x3c);
    this.putBytes(p, n);
    this.put8(0x3e);
    return this.err;
  }
  /** `;name` (a flag attribute). */
  attr<T>(name: T): i32 {
    this.put8(0x3b);
    this.putName<T>(name);
    return this.err;
  }
  /** `;name=123` (pmin, pmax, dim, ssid, ct, ...). */
  attrUint<T>(name: T, v: u64): i32 {
    this.attr<T>(name);
    this.put8(0x3d);
    this.putBytes(NUM_TMP, formatU64(NUM_TMP, v));
    return this.err;
  }
  /** `;name=25.5` (gt, lt, st); NaN and infinities are refused. */
  attrFloat<T>(name: T, v: f64): i32 {
    this.attr<T>(name);
    this.put8(0x3d);
    const n = formatF64(NUM_TMP, v);
    if (n < 0) { if (!this.err) this.err = FormatError.InvalidValue; return this.err; }
    this.putBytes(NUM_TMP, n);
    return this.err;
  }
  /** `;name=token` (an unquoted ptoken such as ver=1.1, RFC 6690 §2). */
  attrToken<T>(name: T, p: usize, n: i32): i32 {
    this.attr<T>(name);
    this.put8(0x3d);
    this.putBytes(p, n);
    return this.err;
  }
  /** `;name="text"` (quoted-string: '"' and '\' escaped, RFC 6690 §2 / RFC 2616 §2.2). */
  attrQuoted<T>(name: T, p: usize, n: i32): i32 {
    this.attr<T>(name);
    this.put8(0x3d);
    this.put8(0x22);
    for (let i = 0; i < n; i++) {
      const c = <u32>load<u8>(p + i);
      if (c == 0x22 || c == 0x5c) this.put8(0x5c);
      this.put8(c);
    }
    this.put8(0x22);
    return this.err;
  }
  /** The payload length, or the first error. */
  finish(): i32 { return this.err ? this.err : <i32>this.pos; }
}

export const LINK_WRITER_SIZE: i32 = <i32>offsetof<LinkWriter>();

// ---------------------------------------------------------------------------
// Write-Attributes query parameters (one Uri-Query option each)

/** <NOTIFICATION> class attributes a server may write (LwM2M 1.1 §5.1.2). */
export namespace Attr {
  export const Pmin: i32 = 1;
  export const Pmax: i32 = 2;
  export const Gt: i32 = 3;
  export const Lt: i32 = 4;
  export const St: i32 = 5;
  export const Epmin: i32 = 6;
  export const Epmax: i32 = 7;
}

/** Value of the last parseAttribute: present or not ("pmin" alone removes it). */
export let attrHasValue: bool = false;
export let attrInt: u32 = 0;
export let attrFloat: f64 = 0;

function attrName(p: usize, n: i32): i32 {
  let k: u64 = 0;
  if (n > 5) return 0;
  for (let i = 0; i < n; i++) k |= <u64>load<u8>(p + i) << (<u64>i << 3);
  if (k == 0x6e696d70) return Attr.Pmin; // "pmin"
  if (k == 0x78616d70) return Attr.Pmax;
  if (k == 0x7467) return Attr.Gt;
  if (k == 0x746c) return Attr.Lt;
  if (k == 0x7473) return Attr.St;
  if (k == 0x6e696d7065) return Attr.Epmin;
  if (k == 0x78616d7065) return Attr.Epmax;
  return 0;
}

/**
 * One Uri-Query option of a Write-Attributes request: "pmin=10", "gt=-2.5",
 * "pmax" (no value: remove). Periods are 1*DIGIT seconds (u32); thresholds a
 * decimal number (sign, fraction and exponent accepted; "st" not negative).
 * Returns the Attr id, or Malformed (unknown attribute or bad value -> 4.00).
 */
export function parseAttribute(p: usize, len: i32): i32 {
  let eq = 0;
  while (eq < len && load<u8>(p + eq) != 0x3d) eq++;
  const id = attrName(p, eq);
  if (!id) return FormatError.Malformed;
  attrHasValue = eq < len;
  attrInt = 0;
  attrFloat = 0;
  if (!attrHasValue) return id;
  const v = p + <usize>eq + 1;
  const end = p + <usize>len;
  if (v == end || scanNumber(v, end) != end) return FormatError.Malformed;
  if (id == Attr.Gt || id == Attr.Lt || id == Attr.St) {
    attrFloat = decimalToF64();
    if (numErr || (id == Attr.St && numNeg && attrFloat != 0)) return FormatError.Malformed;
    return id;
  }
  if (numNeg || numHasFrac) return FormatError.Malformed;
  const u = decimalToU64();
  if (numErr || u > 0xffffffff) return FormatError.Malformed;
  attrInt = <u32>u;
  return id;
}

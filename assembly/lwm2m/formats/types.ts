// The shared vocabulary of the LwM2M content formats
// (OMA-TS-LightweightM2M_Core-V1_1 §7.4): Content-Format numbers, data types
// (Appendix C), errors, paths (§7.3), and the state of an encoder / decoder
// with the primitives the five codecs (tlv, text, senml_json, senml_cbor,
// senml) share. The dispatch by Content-Format (LwEncoder / LwDecoder) is in
// entry.ts, on top of the codecs; the codecs import only this file.
import { CborEncoder, CBOR_ENCODER_SIZE, CBOR_VALUE_SIZE } from "../../cbor/index";

/** CoAP Content-Format numbers (RFC 7252 §12.3 registry; LwM2M 1.1 §7.4 tables). */
export namespace ContentFormat {
  export const TEXT: u32 = 0; // text/plain
  export const LINK: u32 = 40; // application/link-format (RFC 6690)
  export const OPAQUE: u32 = 42; // application/octet-stream
  export const SENML_JSON: u32 = 110; // application/senml+json (RFC 8428 §5)
  export const SENML_CBOR: u32 = 112; // application/senml+cbor (RFC 8428 §6)
  export const TLV: u32 = 11542; // application/vnd.oma.lwm2m+tlv
  export const LWM2M_JSON: u32 = 11543; // LwM2M 1.0 JSON: not produced by 1.1 clients, not supported
}

/** Resource data types (Appendix C). */
export namespace LwType {
  export const None: i32 = 0; // executable resources
  export const String: i32 = 1;
  export const Integer: i32 = 2;
  export const UnsignedInteger: i32 = 3;
  export const Float: i32 = 4;
  export const Boolean: i32 = 5;
  export const Opaque: i32 = 6;
  export const Time: i32 = 7;
  export const Objlnk: i32 = 8;
  export const Corelnk: i32 = 9;
}

/** Errors (negative i32). formatErrorToCoap gives the response code. */
export namespace FormatError {
  export const None: i32 = 0;
  /** Payload not well-formed for its format (TLV lengths, JSON/CBOR syntax, SenML structure) -> 4.00. */
  export const Malformed: i32 = -1;
  /** Content-Format not supported for decoding, or a SenML field that must be understood -> 4.15. */
  export const Unsupported: i32 = -2;
  /** The requested Content-Format cannot represent the target (e.g. text/plain for an Object Instance) -> 4.06. */
  export const NotAcceptable: i32 = -3;
  /** The value is not of the expected data type (wrong SenML value field, TLV length, text syntax) -> 4.00. */
  export const TypeMismatch: i32 = -4;
  /** A number or identifier outside its range -> 4.00. */
  export const Range: i32 = -5;
  /** A path that is not an LwM2M path, uses the reserved ID 65535, or lies outside the request path -> 4.00. */
  export const InvalidPath: i32 = -6;
  /** The encoder buffer (or the decoder scratch area) is too small -> 4.13 for a request, 5.00 for a response. */
  export const OutOfSpace: i32 = -7;
  /** A value the format cannot carry (NaN/Infinity in text or JSON, invalid UTF-8) -> 5.00 when encoding, 4.00 when decoding. */
  export const InvalidValue: i32 = -8;
  /** Calls out of order (a bug in the caller) -> 5.00. */
  export const State: i32 = -9;
}

/** CoAP response code (class << 5 | detail, RFC 7252 §12.1.2) for a FormatError; `decoding` = request payload. */
export function formatErrorToCoap(err: i32, decoding: bool): u32 {
  if (err == FormatError.Unsupported) return 0x8f; // 4.15 Unsupported Content-Format
  if (err == FormatError.NotAcceptable) return 0x86; // 4.06 Not Acceptable
  if (err == FormatError.OutOfSpace) return decoding ? 0x8d : 0xa0; // 4.13 / 5.00
  if (err == FormatError.State) return 0xa0;
  if (err == FormatError.InvalidValue && !decoding) return 0xa0;
  return 0x80; // 4.00 Bad Request
}

// ---------------------------------------------------------------------------
// Paths

/** MAX_ID (§7.3): reserved, never an identifier; marks "not present" in an LwPath. */
export const ID_NONE: u32 = 0xffff;
/** Largest usable identifier. */
export const ID_MAX: u32 = 65534;

/**
 * /oid/iid/rid/riid; absent levels hold ID_NONE. Present levels form a prefix
 * (the one exception: a TLV Create payload without an Object Instance TLV
 * yields resources with iid = ID_NONE under an object-level request path).
 */
@unmanaged
export class LwPath {
  oid: u16 = 0xffff;
  iid: u16 = 0xffff;
  rid: u16 = 0xffff;
  riid: u16 = 0xffff;

  /** Number of present levels: 0 (root "/") .. 4. */
  level(): i32 {
    if (this.oid == 0xffff) return 0;
    if (this.iid == 0xffff) return this.rid == 0xffff ? 1 : 3;
    if (this.rid == 0xffff) return 2;
    return this.riid == 0xffff ? 3 : 4;
  }
  set(oid: u32, iid: u32, rid: u32, riid: u32): void {
    this.oid = <u16>oid;
    this.iid = <u16>iid;
    this.rid = <u16>rid;
    this.riid = <u16>riid;
  }
  clear(): void { store<u64>(changetype<usize>(this), u64.MAX_VALUE); }
  copyFrom(o: LwPath): void { store<u64>(changetype<usize>(this), load<u64>(changetype<usize>(o))); }
  equals(o: LwPath): bool { return load<u64>(changetype<usize>(this)) == load<u64>(changetype<usize>(o)); }
  /** Level i (0..3) identifier. */
  id(i: i32): u32 { return <u32>load<u16>(changetype<usize>(this) + (<usize>i << 1)); }
  setId(i: i32, v: u32): void { store<u16>(changetype<usize>(this) + (<usize>i << 1), <u16>v); }
  /** True when this path is `o` or an ancestor of it. */
  isPrefixOf(o: LwPath): bool {
    const n = this.level();
    for (let i = 0; i < n; i++) if (this.id(i) != o.id(i)) return false;
    return true;
  }
}

export const LWPATH_SIZE: i32 = <i32>offsetof<LwPath>();

/**
 * Appends one decimal identifier (a CoAP Uri-Path segment, RFC 7252 §5.10.1)
 * at the next level: "0".."65534", no sign, no leading zeros, no empty segment.
 */
export function pathAppendSegment(p: LwPath, seg: usize, len: i32): i32 {
  const lvl = p.level();
  if (lvl >= 4 || (lvl == 1 && p.rid != 0xffff)) return FormatError.InvalidPath;
  if (len <= 0 || len > 5 || (len > 1 && load<u8>(seg) == 0x30)) return FormatError.InvalidPath;
  let v: u32 = 0;
  for (let i = 0; i < len; i++) {
    const d = <u32>load<u8>(seg + i) - 0x30;
    if (d > 9) return FormatError.InvalidPath;
    v = v * 10 + d;
  }
  if (v > ID_MAX) return FormatError.InvalidPath;
  p.setId(lvl, v);
  return FormatError.None;
}

/** Parses "/", "/3", "/3/0", "/3/0/1", "/3/0/6/1" (a SenML name or a link target). */
export function pathParse(p: LwPath, s: usize, len: i32): i32 {
  p.clear();
  if (len <= 0 || load<u8>(s) != 0x2f) return FormatError.InvalidPath;
  if (len == 1) return FormatError.None;
  let start = s + 1;
  const end = s + <usize>len;
  for (let q = start; ; q++) {
    if (q == end || load<u8>(q) == 0x2f) {
      const err = pathAppendSegment(p, start, <i32>(q - start));
      if (err) return err;
      if (q == end) return FormatError.None;
      start = q + 1;
    }
  }
  return FormatError.None;
}

/** Writes the path as "/3/0/1" ("/" for the root); returns the length (at most 24). */
export function pathFormat(p: LwPath, dst: usize): i32 {
  const n = p.level();
  if (n == 0) { store<u8>(dst, 0x2f); return 1; }
  let o = dst;
  for (let i = 0; i < n; i++) {
    store<u8>(o++, 0x2f);
    o += formatId(o, p.id(i));
  }
  return <i32>(o - dst);
}

/** Decimal of an identifier (0..65535) at dst; returns its length. */
export function formatId(dst: usize, v: u32): i32 {
  const n = v >= 10000 ? 5 : v >= 1000 ? 4 : v >= 100 ? 3 : v >= 10 ? 2 : 1;
  for (let i = n - 1; i >= 0; i--) {
    store<u8>(dst + i, <u8>(0x30 + v % 10));
    v /= 10;
  }
  return n;
}

// ---------------------------------------------------------------------------
// Encoder

/** begin() was called. */
export const ENC_BEGUN: u32 = 1;
/** A value was written at the request path itself: nothing may follow. */
export const ENC_CLOSED: u32 = 2;
/** SenML: the first record (which carries bn / bt) is out. */
export const ENC_FIRST_DONE: u32 = 4;

/** The state of an LwEncoder and what the format writers share; the dispatch is LwEncoder (entry.ts). */
@unmanaged
export class LwEncoderCore {
  buf: usize = 0;
  cap: u32 = 0;
  pos: u32 = 0;
  err: i32 = 0;
  format: u32 = 0;
  flags: u32 = 0;
  count: i32 = 0;
  /** Request path (the base of every written path). */
  boid: u16 = 0xffff;
  biid: u16 = 0xffff;
  brid: u16 = 0xffff;
  briid: u16 = 0xffff;
  /** TLV: offsets of the open Object Instance / Multiple Resource (-1 none) and their IDs. */
  instAt: i32 = -1;
  multAt: i32 = -1;
  instId: u32 = 0;
  multId: u32 = 0;
  /** SenML: time of the next record ("t", NaN = none) and base time of the first ("bt"). */
  time: f64 = NaN;
  baseTime: f64 = NaN;

  get base(): LwPath { return changetype<LwPath>(changetype<usize>(this) + offsetof<LwEncoderCore>("boid")); }
  /** The CborEncoder used by SenML CBOR (placed after this struct). */
  get cbor(): CborEncoder { return changetype<CborEncoder>(changetype<usize>(this) + ENC_CBOR_OFF); }

  fail(e: i32): i32 {
    if (!this.err) this.err = e;
    return this.err;
  }

  /** Claims n bytes at the end of the output; 0 when out of space (err set). */
  reserve(n: i32): usize {
    if (this.err) return 0;
    const at = this.pos;
    if (n < 0 || <u64>at + <u64>n > <u64>this.cap) { this.err = FormatError.OutOfSpace; return 0; }
    this.pos = at + <u32>n;
    return this.buf + at;
  }
  put8(b: u32): void {
    const d = this.reserve(1);
    if (d) store<u8>(d, b);
  }
  putBytes(p: usize, n: i32): void {
    const d = this.reserve(n);
    if (d) memory.copy(d, p, n);
  }
  /**
   * Up to 8 ASCII bytes packed little-endian in a u64 (first byte lowest, no
   * NUL): protocol text without UTF-16 string literals in the data segment.
   */
  putAscii(k: u64): void {
    while (k) { this.put8(<u32>k & 0xff); k >>= 8; }
  }

}

// @ts-ignore: decorator
@inline const ENC_CBOR_OFF: usize = (offsetof<LwEncoderCore>() + 7) & ~7;
/** Bytes an LwEncoder takes in caller memory (including its CBOR encoder). */
export const LW_ENCODER_SIZE: i32 = <i32>((offsetof<LwEncoderCore>() + 7) & ~7) + CBOR_ENCODER_SIZE;

// ---------------------------------------------------------------------------
// Decoder

/** What an entry is. */
export namespace EntryKind {
  /** A Resource or Resource Instance value. */
  export const Value: i32 = 1;
  /** A SenML record without a value field (the names of a Read-Composite / Observe-Composite request). */
  export const NoValue: i32 = 2;
  /** TLV Object Instance: path /o/i; its resources follow as entries. */
  export const Instance: i32 = 3;
  /** TLV Multiple Resource: path /o/i/r; its instances follow as entries (none: the resource is emptied). */
  export const Multiple: i32 = 4;
}

/** What the payload itself says about the value's type (TLV, text and opaque say nothing). */
export namespace ValueHint {
  export const Raw: i32 = 0;
  export const Number: i32 = 1; // SenML "v"
  export const String: i32 = 2; // SenML "vs"
  export const Boolean: i32 = 3; // SenML "vb"
  export const Opaque: i32 = 4; // SenML "vd"
  export const Objlnk: i32 = 5; // SenML "vlo"
}

/** SenML number representations (decoder.numKind). */
export const NUM_TEXT: i32 = 1; // JSON number token at valPtr..valLen
export const NUM_DEC: i32 = 2; // decimal (-1)^numNeg * numMant * 10^numExp
export const NUM_BIN: i32 = 3; // binary64 in numF64

/** Longest SenML name (bn + n) the decoders resolve; LwM2M paths need at most 24. */
export const NAME_CAP: i32 = 64;

/** The state of an LwDecoder and what the format readers share; the dispatch is LwDecoder (entry.ts). */
@unmanaged
export class LwDecoderCore {
  buf: usize = 0;
  end: usize = 0;
  pos: usize = 0;
  scratch: usize = 0;
  scratchCap: i32 = 0;
  format: u32 = 0;
  /** Result of the last accessor: 0 or a FormatError. */
  err: i32 = 0;
  /** EntryKind of the current entry. */
  kind: i32 = 0;
  /** ValueHint of the current entry. */
  hint: i32 = 0;
  /** Raw value: TLV value bytes, the text/opaque payload, a JSON token (string contents without quotes), a CBOR item. */
  valPtr: usize = 0;
  valLen: i32 = 0;
  /** Span returned by asString / asOpaque (inside the payload or the scratch area). */
  strPtr: usize = 0;
  /** Path of the current entry. */
  oid: u16 = 0xffff;
  iid: u16 = 0xffff;
  rid: u16 = 0xffff;
  riid: u16 = 0xffff;
  /** Request path. */
  boid: u16 = 0xffff;
  biid: u16 = 0xffff;
  brid: u16 = 0xffff;
  briid: u16 = 0xffff;
  /** SenML resolved time (bt + t, seconds), NaN when the record has none. */
  time: f64 = NaN;
  /** SenML value details (see NUM_*); vb in numMant. */
  numKind: i32 = 0;
  numNeg: bool = false;
  valEsc: bool = false;
  /** Keep SenML names as text in nameBuf instead of resolving LwM2M paths (tools and tests). */
  rawNames: bool = false;
  numExp: i32 = 0;
  numMant: u64 = 0;
  numF64: f64 = 0;
  /** TLV: ends of the open Object Instance / Multiple Resource (0 = none) and their IDs. */
  instEnd: usize = 0;
  multEnd: usize = 0;
  curIid: u32 = 0;
  curRid: u32 = 0;
  /** SenML: iteration state, base name length, base time (NaN none), resolved name length. */
  state: i32 = 0;
  bnLen: i32 = 0;
  nameLen: i32 = 0;
  bt: f64 = NaN;

  get path(): LwPath { return changetype<LwPath>(changetype<usize>(this) + offsetof<LwDecoderCore>("oid")); }
  get base(): LwPath { return changetype<LwPath>(changetype<usize>(this) + offsetof<LwDecoderCore>("boid")); }
  /** Base name of the current SenML record (bnLen bytes). */
  get bnBuf(): usize { return changetype<usize>(this) + DEC_BN_OFF; }
  /** Resolved SenML name bn + n (nameLen bytes). */
  get nameBuf(): usize { return changetype<usize>(this) + DEC_NAME_OFF; }
  /** CborValue cursors for SenML CBOR: records of the pack, fields of a record, a decimal fraction. */
  get cbor0(): usize { return changetype<usize>(this) + DEC_CBOR_OFF; }
  get cbor1(): usize { return changetype<usize>(this) + DEC_CBOR_OFF + <usize>CBOR_VALUE_SIZE; }
  get cbor2(): usize { return changetype<usize>(this) + DEC_CBOR_OFF + <usize>(CBOR_VALUE_SIZE * 2); }

  /** Sets err (for the format accessors); returns 0. */
  bad(e: i32): i64 {
    this.err = e;
    return 0;
  }
}

// @ts-ignore: decorator
@inline const DEC_BN_OFF: usize = (offsetof<LwDecoderCore>() + 7) & ~7;
// @ts-ignore: decorator
@inline const DEC_NAME_OFF: usize = DEC_BN_OFF + <usize>NAME_CAP;
// @ts-ignore: decorator
@inline const DEC_CBOR_OFF: usize = DEC_NAME_OFF + <usize>NAME_CAP;
/** Bytes an LwDecoder takes in caller memory (name buffers and CBOR cursors included). */
export const LW_DECODER_SIZE: i32 = <i32>((offsetof<LwDecoderCore>() + 7) & ~7) + NAME_CAP * 2 + CBOR_VALUE_SIZE * 3;

// CBOR decoder (RFC 8949): a zero-copy cursor after tinycbor's CborValue,
// plus an iterative (non-recursive) skip walker used by advance() and
// cborValidate(). No allocation: a CborValue (CBOR_VALUE_SIZE bytes) lives in
// caller memory, one per nesting level the caller enters, as tinycbor's
// CborValue lives on the C stack:
//   const it = changetype<CborValue>(p0); cborParserInit(it, buf, len, 16);
//   it.type == CborType.Map -> it.enter(child) ... it.leave(child)
// Every head is checked when it is read (reserved values, truncation, string
// and container lengths against the bytes left), so pointers handed out
// (stringPtr) always lie inside the input.
import {
  CborError, CborType, CBOR_MAX_DEPTH_LIMIT, CBOR_DEFAULT_MAX_DEPTH,
} from "./common";

// `remaining` encoding, shared by CborValue and the walker: definite levels
// hold the number of items left (< 2^31, maps count keys and values);
// indefinite levels set bit 31, bit 1 marks a map and bit 0 an odd item count
// so far (a break after a key is not well-formed, RFC 8949 §3.2.2).
const INDEF: u32 = 0x80000000;
const INDEF_MAP: u32 = 0x80000002;

// @ts-ignore: decorator
@inline function stepRemaining(rem: u32): u32 {
  return rem & INDEF ? rem ^ ((rem >> 1) & 1) : rem - 1;
}

// Last decoded head (module state: the firmware is single-threaded and
// decodeHead has no callers that re-enter it between write and read).
let hMajor: u32 = 0;
let hAi: u32 = 0;
let hArg: u64 = 0;
let hLen: u32 = 0;

/**
 * Decodes the head at p (RFC 8949 §3) into hMajor/hAi/hArg/hLen and checks it
 * is well-formed on its own. A break (0xff) decodes as major 7, ai 31 without
 * error; the caller decides whether one may stand there.
 */
function decodeHead(p: usize, end: usize): i32 {
  if (p >= end) return CborError.UnexpectedEof;
  const ib = <u32>load<u8>(p);
  const major = ib >> 5;
  const ai = ib & 31;
  hMajor = major;
  hAi = ai;
  hLen = 1;
  let v = <u64>ai;
  if (ai >= 24) {
    if (ai == 31) {
      // §3.2: indefinite length exists for major types 2..5 only; 0xff = break.
      if (major < 2 || major == 6) return CborError.IllegalType;
      hArg = 0;
      return CborError.None;
    }
    if (ai > 27) return CborError.IllegalType; // §3: 28..30 reserved
    const n = <usize>1 << (ai - 24);
    if (n >= end - p) return CborError.UnexpectedEof;
    v = 0;
    for (let i: usize = 1; i <= n; i++) v = (v << 8) | <u64>load<u8>(p + i);
    hLen = 1 + <u32>n;
    if (major == 7 && ai == 24 && v < 32) return CborError.IllegalSimple; // §3.3
  }
  hArg = v;
  if (major - 2 < 4) {
    // length (strings) or item count (containers): every item takes at least
    // one byte, so a count above the bytes left can only be a truncation
    if (v > 0x7fffffff) return CborError.LengthTooLarge;
    if ((major == 5 ? v << 1 : v) > <u64>(end - p - hLen)) return CborError.UnexpectedEof;
  }
  return CborError.None;
}

const SKIP_STACK = memory.data((CBOR_MAX_DEPTH_LIMIT + 1) << 2, 4);
let skipEnd: usize = 0;

/**
 * Skips one complete data item at p (RFC 8949 Appendix C well-formedness)
 * without recursion; `budget` = container levels it may open. On success
 * returns None with the end of the item in skipEnd.
 */
function skipItem(p: usize, end: usize, budget: i32): i32 {
  budget = min(budget, CBOR_MAX_DEPTH_LIMIT); // SKIP_STACK holds the limit + one chunk level
  let sp: usize = 0; // stack entries in use
  let rem: u32 = 1; // items left at the current level
  let chunk: u32 = 0; // major type every chunk must have inside an indefinite string
  let tagged = false; // a tag's content is pending: no break, no end here
  while (true) {
    if (rem == 0) {
      if (sp == 0) break;
      rem = load<u32>(SKIP_STACK + (--sp << 2));
      continue;
    }
    if ((rem & INDEF) && !tagged && p < end && load<u8>(p) == 0xff) {
      if (rem & 1) return CborError.IllegalBreak;
      p++;
      chunk = 0;
      rem = load<u32>(SKIP_STACK + (--sp << 2)); // indefinite levels are never the outermost
      continue;
    }
    const err = decodeHead(p, end);
    if (err) return err;
    const major = hMajor;
    if (major == 7 && hAi == 31) return CborError.IllegalBreak;
    if (chunk && (major != chunk || hAi == 31)) return CborError.IllegalIndefinite;
    p += hLen;
    if (major == 6) { tagged = true; continue; } // §3.4: tag + content = one item
    tagged = false;
    rem = stepRemaining(rem);
    if (major - 2 < 2) {
      if (hAi != 31) { p += <usize>hArg; continue; }
      store<u32>(SKIP_STACK + (sp++ << 2), rem); // chunks never nest: no depth cost
      rem = INDEF;
      chunk = major;
    } else if (major - 4 < 2) {
      if (<i32>sp >= budget) return CborError.NestingTooDeep;
      store<u32>(SKIP_STACK + (sp++ << 2), rem);
      rem = hAi == 31 ? (major == 5 ? INDEF_MAP : INDEF) : (major == 5 ? <u32>hArg << 1 : <u32>hArg);
    }
  }
  skipEnd = p;
  return CborError.None;
}

/** Half-precision bits to f64, exactly (RFC 8949 Appendix D). */
export function cborHalfToDouble(h: u32): f64 {
  const e = (h >> 10) & 31;
  const m = h & 0x3ff;
  const v = e == 0
    ? <f64>m * 5.9604644775390625e-8 // m * 2^-24 (subnormal or zero)
    : reinterpret<f64>((<u64>(e == 31 ? 0x7ff : e + 1008) << 52) | (<u64>m << 42));
  return h & 0x8000 ? -v : v;
}

@unmanaged
export class CborValue {
  /** Head argument: integer, length, count, tag number, simple value, or float bits. */
  arg: u64 = 0;
  /** Start of the current item's head (at End: the break byte or the container's end). */
  ptr: usize = 0;
  /** End of the input. */
  end: usize = 0;
  /** Items left at this level including the current one (see INDEF). */
  remaining: u32 = 0;
  /** CborType of the current item. */
  type: i32 = CborType.Invalid;
  /** Additional information of the current head (31 = indefinite length). */
  ai: u8 = 0;
  headLen: u8 = 0;
  /** Nesting depth of this level (top level = 0) and the limit. */
  depth: u8 = 0;
  maxDepth: u8 = 0;
  /** Inside an indefinite-length string: the major type of its chunks, else 0. */
  chunkMajor: u8 = 0;

  /** (internal) Reads the head at ptr; noEnd after a tag head (its content must follow). */
  readHead(noEnd: bool): i32 {
    this.type = CborType.Invalid;
    const rem = this.remaining;
    if (rem == 0) { this.type = CborType.End; return CborError.None; }
    const p = this.ptr;
    if ((rem & INDEF) && !noEnd && p < this.end && load<u8>(p) == 0xff) {
      if (rem & 1) return CborError.IllegalBreak;
      this.type = CborType.End;
      return CborError.None;
    }
    const err = decodeHead(p, this.end);
    if (err) return err;
    const major = hMajor;
    const ai = hAi;
    if (major == 7 && ai == 31) return CborError.IllegalBreak;
    const cm = <u32>this.chunkMajor;
    if (cm && (major != cm || ai == 31)) return CborError.IllegalIndefinite;
    this.arg = hArg;
    this.ai = <u8>ai;
    this.headLen = <u8>hLen;
    this.type = major == 7 && ai >= 25 ? CborType.Float : <i32>major;
    return CborError.None;
  }

  /** True when there are no more items at this level. */
  @inline atEnd(): bool { return this.type == CborType.End; }
  /** Indefinite-length string/array/map. */
  @inline isIndefinite(): bool { return this.ai == 31; }

  /** Skips the whole current item (nested containers, tags, chunks) and reads the next head. */
  advance(): i32 {
    const t = this.type;
    if (t == CborType.End || t == CborType.Invalid) return CborError.WrongType;
    const err = skipItem(this.ptr, this.end, <i32>this.maxDepth - <i32>this.depth);
    if (err) { this.type = CborType.Invalid; return err; }
    this.ptr = skipEnd;
    this.remaining = stepRemaining(this.remaining);
    return this.readHead(false);
  }

  /**
   * Enters the current array/map, or the chunks of an indefinite string
   * (each chunk then reads as a definite string); `child` is caller memory.
   */
  enter(child: CborValue): i32 {
    const t = this.type;
    const indef = this.ai == 31;
    let depth = <u32>this.depth;
    let rem: u32;
    let cm: u32 = 0;
    if (t == CborType.Array || t == CborType.Map) {
      if (depth >= <u32>this.maxDepth) return CborError.NestingTooDeep;
      depth++;
      rem = indef ? (t == CborType.Map ? INDEF_MAP : INDEF) : (t == CborType.Map ? <u32>this.arg << 1 : <u32>this.arg);
    } else if (indef && (t == CborType.ByteString || t == CborType.TextString)) {
      rem = INDEF;
      cm = <u32>t;
    } else {
      return CborError.WrongType;
    }
    child.ptr = this.ptr + this.headLen;
    child.end = this.end;
    child.remaining = rem;
    child.depth = <u8>depth;
    child.maxDepth = this.maxDepth;
    child.chunkMajor = <u8>cm;
    return child.readHead(false);
  }

  /**
   * Leaves `child` (entered from this item): skips whatever the caller did not
   * read, consumes the break of an indefinite item, reads the next head here.
   */
  leave(child: CborValue): i32 {
    while (child.type != CborType.End) {
      const err = child.advance();
      if (err) return err;
    }
    let p = child.ptr;
    if (child.remaining & INDEF) p++;
    this.ptr = p;
    this.remaining = stepRemaining(this.remaining);
    return this.readHead(false);
  }

  /** Moves from a tag head to the tagged item (tinycbor: advance past the tag). */
  skipTag(): i32 {
    if (this.type != CborType.Tag) return CborError.WrongType;
    this.ptr += this.headLen;
    return this.readHead(true);
  }

  /** Unsigned or negative integer as i64 at out; Overflow outside [-2^63, 2^63-1]. */
  getInt64(out: usize): i32 {
    const t = this.type;
    if (t > CborType.NegativeInteger || t < 0) return CborError.WrongType;
    const a = this.arg;
    if (a > <u64>i64.MAX_VALUE) return CborError.Overflow;
    store<i64>(out, t ? ~<i64>a : <i64>a); // major 1: -1 - a
    return CborError.None;
  }

  /** Float item (half, single or double) as f64, exactly; NaN for other types. */
  getDouble(): f64 {
    if (this.type != CborType.Float) return NaN;
    const a = this.arg;
    const ai = this.ai;
    if (ai == 25) return cborHalfToDouble(<u32>a);
    if (ai == 26) return <f64>reinterpret<f32>(<u32>a);
    return reinterpret<f64>(a);
  }

  /** Definite string: its bytes (zero-copy) are [stringPtr(), stringPtr() + arg). */
  @inline stringPtr(): usize { return this.ptr + this.headLen; }

  /**
   * Copies a string (definite, or all chunks of an indefinite one) to dst.
   * Returns its total length, or OutOfSpace when above cap; dst = 0 only
   * measures. Does not move the cursor.
   */
  copyString(dst: usize, cap: i32): i32 {
    const t = <u32>this.type;
    if (t - 2 >= 2) return CborError.WrongType;
    let p = this.ptr;
    const end = this.end;
    let total = 0;
    const single = this.ai != 31;
    if (!single) p++;
    while (true) {
      if (!single) {
        if (p < end && load<u8>(p) == 0xff) break;
        const err = decodeHead(p, end);
        if (err) return err;
        if (hMajor != t || hAi == 31) return CborError.IllegalIndefinite;
      } else {
        hArg = this.arg;
        hLen = this.headLen;
      }
      const n = <i32>hArg;
      if (dst) {
        if (n > cap - total) return CborError.OutOfSpace;
        memory.copy(dst + total, p + hLen, n);
      }
      total += n;
      if (single) break;
      p += hLen + n;
    }
    return total;
  }
}

/** Points `it` at the first item of buf[0..len) with a nesting limit (≤ CBOR_MAX_DEPTH_LIMIT). */
export function cborParserInit(it: CborValue, buf: usize, len: i32, maxDepth: i32 = CBOR_DEFAULT_MAX_DEPTH): i32 {
  it.ptr = buf;
  it.end = buf + <usize>max(len, 0);
  it.remaining = 1;
  it.depth = 0;
  it.maxDepth = <u8>min(max(maxDepth, 0), CBOR_MAX_DEPTH_LIMIT);
  it.chunkMajor = 0;
  return it.readHead(false);
}

/**
 * Checks that buf[0..len) is exactly one well-formed data item (RFC 8949
 * §5.3.1 / Appendix C) nested at most maxDepth deep. Returns None or the
 * first CborError found. Text strings are not checked for valid UTF-8.
 */
export function cborValidate(buf: usize, len: i32, maxDepth: i32 = CBOR_DEFAULT_MAX_DEPTH): i32 {
  const end = buf + <usize>max(len, 0);
  const err = skipItem(buf, end, min(max(maxDepth, 0), CBOR_MAX_DEPTH_LIMIT));
  if (err) return err;
  return skipEnd == end ? CborError.None : CborError.TrailingData;
}

/** Bytes to reserve per CborValue in caller memory (a multiple of 8, for `arg`). */
export const CBOR_VALUE_SIZE: i32 = (<i32>offsetof<CborValue>() + 7) & ~7;

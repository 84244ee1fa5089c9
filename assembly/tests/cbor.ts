// Test entry for assembly/cbor: thin wrappers + an event-stream dump/encode
// pair the JS tests use to compare against RFC 8949 Appendix A and cborg.
//
// Event stream (little-endian), written by dump() and read by encodeEvents():
//   0 u64            unsigned integer (arg)
//   1 u64            negative integer -1-arg (arg)
//   2|3 u32 len bytes  definite byte/text string (or a chunk)
//   4|5 u32 count      array/map head (count 0xffffffff = indefinite); items; 10
//   6 u64            tag number; then the tagged item
//   7 u8             simple value
//   8 u8 ai u64 bits f64  float: width (25/26/27), raw bits, value from getDouble()
//   9 u8 major       indefinite string; chunk events (2|3); 10; then 11
//   10 u8 indef      end of container / indefinite string (1: a break closes it)
//   11 u32 len bytes   the indefinite string as copyString() returned it
export { scratch, scratchSize } from "./_scratch";
import {
  CborValue, CborEncoder, CborType, CborError, cborParserInit, cborValidate,
  cborHalfToDouble, halfFromSingleExact, CBOR_MAX_DEPTH_LIMIT, CBOR_VALUE_SIZE, CBOR_ENCODER_SIZE,
} from "../cbor/index";

const LEVELS = memory.data(CBOR_VALUE_SIZE * (CBOR_MAX_DEPTH_LIMIT + 2), 8);
const ENC = memory.data(CBOR_ENCODER_SIZE, 8);

// @ts-ignore: decorator
@inline function level(i: i32): CborValue {
  return changetype<CborValue>(LEVELS + <usize>(i * CBOR_VALUE_SIZE));
}

let out: usize = 0;
let outEnd: usize = 0;
let lastPos: i32 = 0;

function room(n: usize): bool { return out + n <= outEnd; }
function put8(v: u32): void { if (room(1)) store<u8>(out, v); out += 1; }
function put32(v: u32): void { if (room(4)) store<u32>(out, v); out += 4; }
function put64(v: u64): void { if (room(8)) store<u64>(out, v); out += 8; }
function putF64(v: f64): void { if (room(8)) store<f64>(out, v); out += 8; }
function putBytes(p: usize, n: u32): void { if (room(n)) memory.copy(out, p, n); out += n; }

export function valueSize(): i32 { return CBOR_VALUE_SIZE; }
export function encoderSize(): i32 { return CBOR_ENCODER_SIZE; }

export function validate(p: usize, len: i32, maxDepth: i32): i32 { return cborValidate(p, len, maxDepth); }

/** Top-level advance() (the skip walker through the cursor): bytes consumed or error. */
export function skipTop(p: usize, len: i32, maxDepth: i32): i32 {
  const it = level(0);
  let err = cborParserInit(it, p, len, maxDepth);
  if (!err) err = it.advance();
  if (err) return err;
  if (it.type != CborType.End) return -100; // bug: top level must end after one item
  lastPos = <i32>(it.ptr - p);
  return lastPos;
}

/** Walks the whole item with the cursor (enter/leave/skipTag/copyString); returns event bytes or error. */
export function dump(p: usize, len: i32, o: usize, cap: i32, maxDepth: i32): i32 {
  out = o;
  outEnd = o + <usize>cap;
  let lvl = 0;
  let it = level(0);
  let err = cborParserInit(it, p, len, maxDepth);
  while (!err) {
    it = level(lvl);
    const t = it.type;
    if (t == CborType.End) {
      if (lvl == 0) break;
      const parent = level(lvl - 1);
      put8(10);
      put8(parent.ai == 31 ? 1 : 0);
      if (parent.type == CborType.ByteString || parent.type == CborType.TextString) {
        const before = out;
        put8(11);
        const n = parent.copyString(room(4) ? out + 4 : 0, <i32>(outEnd - out) - 4);
        if (n < 0 && n != CborError.OutOfSpace) { err = n; break; }
        const m = parent.copyString(0, 0); // measuring must agree with copying
        if (n >= 0 && m != n) { err = -101; break; }
        put32(<u32>m);
        out += <usize>m;
        if (n < 0) out = max(out, before); // out of space: length still counted
      }
      err = parent.leave(it);
      lvl--;
      continue;
    }
    if (t == CborType.UnsignedInteger || t == CborType.NegativeInteger) {
      put8(t); put64(it.arg);
      err = it.advance();
    } else if (t == CborType.ByteString || t == CborType.TextString) {
      if (it.isIndefinite()) {
        put8(9); put8(t);
        err = it.enter(level(lvl + 1));
        if (!err) lvl++;
      } else {
        put8(t); put32(<u32>it.arg); putBytes(it.stringPtr(), <u32>it.arg);
        err = it.advance();
      }
    } else if (t == CborType.Array || t == CborType.Map) {
      put8(t); put32(it.isIndefinite() ? 0xffffffff : <u32>it.arg);
      err = it.enter(level(lvl + 1));
      if (!err) lvl++;
    } else if (t == CborType.Tag) {
      put8(6); put64(it.arg);
      err = it.skipTag();
    } else if (t == CborType.Simple) {
      put8(7); put8(<u32>it.arg);
      err = it.advance();
    } else if (t == CborType.Float) {
      put8(8); put8(it.ai); put64(it.arg); putF64(it.getDouble());
      err = it.advance();
    } else {
      err = -102; // bug: Invalid without an error
    }
  }
  if (err) return err;
  if (level(0).ptr != p + <usize>len) return CborError.TrailingData;
  if (out > outEnd) return CborError.OutOfSpace;
  return <i32>(out - o);
}

/** Re-encodes an event stream; exact = floats at their original width, else preferred. */
export function encodeEvents(p: usize, len: i32, o: usize, cap: i32, exact: bool): i32 {
  const enc = changetype<CborEncoder>(ENC);
  enc.init(o, cap);
  const end = p + <usize>len;
  while (p < end) {
    const k = <u32>load<u8>(p++);
    if (k == 0) { enc.encodeUint(load<u64>(p)); p += 8; }
    else if (k == 1) { enc.encodeNegative(load<u64>(p)); p += 8; }
    else if (k == 2 || k == 3 || k == 11) {
      const n = load<u32>(p);
      if (k == 2) enc.encodeBytes(p + 4, n);
      else if (k == 3) enc.encodeText(p + 4, n);
      p += 4 + <usize>n;
    } else if (k == 4 || k == 5) {
      const n = load<u32>(p); p += 4;
      if (n == 0xffffffff) enc.beginIndefinite(k);
      else if (k == 4) enc.encodeArray(n);
      else enc.encodeMap(n);
    } else if (k == 6) { enc.encodeTag(load<u64>(p)); p += 8; }
    else if (k == 7) { enc.encodeSimple(load<u8>(p)); p += 1; }
    else if (k == 8) {
      if (exact) enc.encodeFloatBits(load<u8>(p), load<u64>(p + 1));
      else enc.encodeFloat(load<f64>(p + 9));
      p += 17;
    } else if (k == 9) { enc.beginIndefinite(load<u8>(p)); p += 1; }
    else if (k == 10) { if (load<u8>(p)) enc.encodeBreak(); p += 1; }
    else return -103;
  }
  lastPos = enc.needed;
  return enc.err ? enc.err : enc.needed;
}

/** Bytes the last encodeEvents needed (also after OutOfSpace), or skipTop consumed. */
export function lastNeeded(): i32 { return lastPos; }

/** Single-item encoders; return bytes written or the sticky error. */
function finish(enc: CborEncoder): i32 { lastPos = enc.needed; return enc.err ? enc.err : enc.needed; }
function encoder(o: usize, cap: i32): CborEncoder {
  const enc = changetype<CborEncoder>(ENC);
  enc.init(o, cap);
  return enc;
}
export function encFloat(d: f64, o: usize, cap: i32): i32 { const e = encoder(o, cap); e.encodeFloat(d); return finish(e); }
export function encInt(v: i64, o: usize, cap: i32): i32 { const e = encoder(o, cap); e.encodeInt(v); return finish(e); }
export function encUint(v: u64, o: usize, cap: i32): i32 { const e = encoder(o, cap); e.encodeUint(v); return finish(e); }
export function encNegative(n: u64, o: usize, cap: i32): i32 { const e = encoder(o, cap); e.encodeNegative(n); return finish(e); }
export function encSimple(v: u32, o: usize, cap: i32): i32 { const e = encoder(o, cap); e.encodeSimple(v); return finish(e); }
/** {_ a: (_ a, b), 1([true, null, undefined, false]): -1, (_ h'b'): null} */
export function encMixed(a: usize, an: i32, b: usize, bn: i32, o: usize, cap: i32): i32 {
  const e = encoder(o, cap);
  e.beginIndefiniteMap();
  e.encodeText(a, an);
  e.beginIndefiniteText(); e.encodeText(a, an); e.encodeText(b, bn); e.encodeBreak();
  e.encodeTag(1); e.encodeArray(4); e.encodeBool(true); e.encodeNull(); e.encodeUndefined(); e.encodeBool(false);
  e.encodeInt(-1);
  e.beginIndefiniteBytes(); e.encodeBytes(b, bn); e.encodeBreak();
  e.encodeNull();
  e.encodeBreak();
  return finish(e);
}

export function halfToDouble(h: u32): f64 { return cborHalfToDouble(h); }
export function halfFromSingle(b: u32): i32 { return halfFromSingleExact(b); }

/** getInt64 on the top-level item: error, else the value is at out. */
export function getInt(p: usize, len: i32, outp: usize): i32 {
  const it = level(0);
  const err = cborParserInit(it, p, len, 16);
  if (err) return err;
  return it.getInt64(outp);
}

/** copyString on the top-level item into o (cap bytes; o = 0 measures). */
export function copyStr(p: usize, len: i32, o: usize, cap: i32): i32 {
  const it = level(0);
  const err = cborParserInit(it, p, len, 16);
  if (err) return err;
  return it.copyString(o, cap);
}

/** Reads the top-level item's type (CborType) or the error of its head. */
export function topType(p: usize, len: i32): i32 {
  const it = level(0);
  const err = cborParserInit(it, p, len, 16);
  return err ? err : it.type;
}

// SenML CBOR, application/senml+cbor (112): RFC 8428 §6 as LwM2M 1.1 §7.4.5
// uses it, on the CBOR codec in assembly/cbor. Integer labels (Table 4):
// bver -1, bn -2, bt -3, bu -4, bv -5, bs -6, n 0, u 1, v 2, vs 3, vb 4, s 5,
// t 6, ut 7, vd 8; LwM2M's object link uses the text label "vlo". Numbers
// may be integers, floats or decimal fractions (tag 4). Text labels ending in
// "_" must be understood (-> Unsupported); other unknown labels are skipped.
// The writer uses a definite-length array (non-streaming SenML), shortest
// integer and float forms (RFC 8949 §4.2.1), and the label order of the TS
// example: {-2: "/3/0/", 0: "0", 3: "Open Mobile Alliance"}.
import { LwEncoderCore, LwDecoderCore, LwPath, LwType, FormatError, NUM_DEC, NUM_BIN } from "./types";
import { CborValue, CborEncoder, CborType, cborParserInit, cborValidate } from "../../cbor/index";
import { setDecimal, numErr, decimalToF64, validUtf8, NUM_TMP } from "./numbers";
import { senmlResolve, valueKind, Field, senmlNames, nmBnLen, nmNLen, NM_BN, NM_N } from "./senml";
import { formatObjlnk } from "./text";

const MAX_DEPTH: i32 = 8;
const VLO = memory.data<u8>([0x76, 0x6c, 0x6f]); // "vlo"
/** Room kept in front of the records for the array head (5 bytes: up to 2^32-1 records). */
const HEAD_MAX: i32 = 5;

// ---------------------------------------------------------------------------
// Decoder

export function scInit(dec: LwDecoderCore): i32 {
  if (cborValidate(dec.buf, <i32>(dec.end - dec.buf), MAX_DEPTH)) return FormatError.Malformed;
  return scStart(dec);
}

/** Cursor at the first record (the payload is already known to be one well-formed item). */
export function scStart(dec: LwDecoderCore): i32 {
  const root = changetype<CborValue>(dec.cbor1);
  if (cborParserInit(root, dec.buf, <i32>(dec.end - dec.buf), MAX_DEPTH) || root.type != CborType.Array) {
    return FormatError.Malformed;
  }
  dec.state = 0;
  return root.enter(changetype<CborValue>(dec.cbor0)) ? FormatError.Malformed : 0;
}

/** Table 4 as Field bit numbers (Field = 1 << bit): labels 0..8 (n u v vs vb s t ut vd), -1..-6 (bver bn bt bu bv bs). */
const POS_LABELS = memory.data<u8>([2, 13, 4, 5, 6, 14, 3, 15, 7]);
const NEG_LABELS = memory.data<u8>([9, 0, 1, 12, 10, 11]);

/** Label -> Field bit (0 unknown, 0xffffffff must understand, 0xfffffffe not a label). */
function labelField(it: CborValue): u32 {
  const t = it.type;
  const a = it.arg;
  if (t == CborType.UnsignedInteger) return a <= 8 ? <u32>1 << load<u8>(POS_LABELS + <usize>a) : 0;
  if (t == CborType.NegativeInteger) return a <= 5 ? <u32>1 << load<u8>(NEG_LABELS + <usize>a) : 0; // -1 - a
  if (t != CborType.TextString) return 0xfffffffe;
  if (it.ai == 31) return 0xfffffffe; // labels are definite strings
  const p = it.stringPtr();
  const n = <i32>a;
  if (n == 3 && load<u16>(p) == load<u16>(VLO) && load<u8>(p + 2) == 0x6f) return Field.VLO;
  return n > 0 && load<u8>(p + n - 1) == 0x5f ? 0xffffffff : 0;
}

/** A numeric item (integer, float, decimal fraction) into the decoder's number fields. */
function number(dec: LwDecoderCore, it: CborValue, inner: CborValue): i32 {
  const t = it.type;
  if (t == CborType.UnsignedInteger || t == CborType.NegativeInteger) {
    if (t == CborType.NegativeInteger && it.arg == u64.MAX_VALUE) {
      dec.numKind = NUM_BIN; // -2^64
      dec.numF64 = -18446744073709551616.0;
      return 0;
    }
    dec.numKind = NUM_DEC;
    dec.numNeg = t == CborType.NegativeInteger;
    dec.numMant = dec.numNeg ? it.arg + 1 : it.arg;
    dec.numExp = 0;
    return 0;
  }
  if (t == CborType.Float) {
    dec.numKind = NUM_BIN;
    dec.numF64 = it.getDouble();
    return 0;
  }
  if (t != CborType.Tag || it.arg != 4) return FormatError.Malformed;
  // decimal fraction (RFC 8949 §3.4.4): [exponent, mantissa], both integers here
  if (it.skipTag() || it.type != CborType.Array || it.arg != 2 || it.ai == 31) return FormatError.Malformed;
  if (it.enter(inner)) return FormatError.Malformed;
  const et = inner.type;
  if (et != CborType.UnsignedInteger && et != CborType.NegativeInteger) return FormatError.Malformed;
  const ea = inner.arg;
  let e: i32 = ea > 100000 ? 100000 : <i32>ea; // saturate: far beyond any binary64
  if (et == CborType.NegativeInteger) e = -1 - e;
  if (inner.advance()) return FormatError.Malformed;
  const mt = inner.type;
  if (mt == CborType.Tag) return FormatError.Unsupported; // bignum mantissa
  if ((mt != CborType.UnsignedInteger && mt != CborType.NegativeInteger) || inner.arg == u64.MAX_VALUE) {
    return FormatError.Malformed;
  }
  dec.numKind = NUM_DEC;
  dec.numNeg = mt == CborType.NegativeInteger;
  dec.numMant = dec.numNeg ? inner.arg + 1 : inner.arg;
  dec.numExp = e;
  return it.leave(inner) ? FormatError.Malformed : 1; // 1: `it` already moved past the item
}

/** The number just read as binary64 (for "t", "bt"). */
function numberF64(dec: LwDecoderCore): f64 {
  if (dec.numKind == NUM_BIN) return dec.numF64;
  setDecimal(dec.numNeg, dec.numMant, dec.numExp);
  return decimalToF64();
}

export function scNext(dec: LwDecoderCore): i32 {
  const top = changetype<CborValue>(dec.cbor0);
  if (dec.state == 2 || top.type == CborType.End) { dec.state = 2; return 0; }
  if (top.type != CborType.Map) return FormatError.Malformed;
  const rec = changetype<CborValue>(dec.cbor1);
  const inner = changetype<CborValue>(dec.cbor2);
  if (top.enter(rec)) return FormatError.Malformed;
  let seen: u32 = 0;
  let bnP: usize = 0;
  let bnL = 0;
  let bnE = false;
  let nP: usize = 0;
  let nL = 0;
  let nE = false;
  let t: f64 = NaN;
  // saved "v" (a "t" or "bt" read after it reuses the number fields)
  let vKind = 0;
  let vNeg = false;
  let vMant: u64 = 0;
  let vExp = 0;
  let vF64: f64 = 0;
  let vb: u64 = 0;
  while (rec.type != CborType.End) {
    const f = labelField(rec);
    if (f == 0xffffffff) return FormatError.Unsupported;
    if (f == 0xfffffffe) return FormatError.Malformed;
    if (rec.advance()) return FormatError.Malformed;
    if (rec.type == CborType.End) return FormatError.Malformed;
    if (f & seen) return FormatError.Malformed;
    seen |= f;
    let moved = false;
    if (f & (Field.BN | Field.N | Field.VS | Field.VLO | Field.VD | Field.BU | Field.U)) {
      if (rec.type != (f == Field.VD ? CborType.ByteString : CborType.TextString)) return FormatError.Malformed;
      const definite = rec.ai != 31;
      const sp = definite ? rec.stringPtr() : rec.ptr;
      const sl = definite ? <i32>rec.arg : 0;
      if (f == Field.BN) { bnP = sp; bnL = sl; bnE = !definite; }
      else if (f == Field.N) { nP = sp; nL = sl; nE = !definite; }
      else if (f & Field.VALUES) { dec.valPtr = sp; dec.valLen = sl; dec.valEsc = !definite; }
    } else if (f == Field.VB) {
      if (rec.type != CborType.Simple || rec.arg - 20 > 1) return FormatError.Malformed;
      vb = rec.arg - 20;
    } else if (f == Field.BVER) {
      if (rec.type != CborType.UnsignedInteger) return FormatError.Malformed;
      if (rec.arg > 10) return FormatError.Unsupported;
    } else if (f) {
      const r = number(dec, rec, inner);
      if (r < 0) return r;
      moved = r == 1;
      if (f == Field.V) {
        vKind = dec.numKind; vNeg = dec.numNeg; vMant = dec.numMant; vExp = dec.numExp; vF64 = dec.numF64;
      } else if (f == Field.T || f == Field.BT) {
        const x = numberF64(dec);
        if (numErr && dec.numKind != NUM_BIN) return FormatError.Malformed;
        if (f == Field.T) t = x; else dec.bt = x;
      } else if (f == Field.BV && (dec.numKind == NUM_BIN ? dec.numF64 != 0 : dec.numMant != 0)) {
        return FormatError.Unsupported;
      }
    }
    if (!moved && rec.advance()) return FormatError.Malformed;
  }
  if (top.leave(rec)) return FormatError.Malformed;
  dec.numKind = vKind;
  dec.numNeg = vNeg;
  dec.numMant = seen & Field.VB ? vb : vMant;
  dec.numExp = vExp;
  dec.numF64 = vF64;
  const e = valueKind(dec, seen);
  if (e) return e;
  return senmlResolve(dec, bnP, bnL, bnE, nP, nL, nE, t);
}

// ---------------------------------------------------------------------------
// Encoder

export function scBegin(enc: LwEncoderCore): void {
  if (enc.cap < <u32>HEAD_MAX) { enc.fail(FormatError.OutOfSpace); return; }
  enc.cbor.init(enc.buf + HEAD_MAX, <i32>enc.cap - HEAD_MAX);
}

/** A time as an integer when integral (RFC 8428 §6 allows either), else the shortest exact float. */
function putTime(c: CborEncoder, x: f64): void {
  if (x == floor<f64>(x) && abs<f64>(x) <= 9007199254740992.0) c.encodeInt(<i64>x);
  else c.encodeFloat(x);
}

export function scWrite(enc: LwEncoderCore, p: LwPath, type: i32, iv: i64, fv: f64, ptr: usize, len: i32): void {
  const c = enc.cbor;
  const first = senmlNames(enc, p);
  const bt = first && !isNaN(enc.baseTime);
  const hasT = !isNaN(enc.time);
  c.encodeMap((first ? 1 : 0) + (bt ? 1 : 0) + (nmNLen ? 1 : 0) + 1 + (hasT ? 1 : 0));
  if (first) { c.encodeInt(-2); c.encodeText(NM_BN, nmBnLen); }
  if (bt) { c.encodeInt(-3); putTime(c, enc.baseTime); }
  if (nmNLen) { c.encodeUint(0); c.encodeText(NM_N, nmNLen); }
  if (type == LwType.String || type == LwType.Corelnk) {
    if (!validUtf8(ptr, len)) { enc.fail(FormatError.InvalidValue); return; }
    c.encodeUint(3);
    c.encodeText(ptr, len);
  } else if (type == LwType.Opaque) {
    c.encodeUint(8);
    c.encodeBytes(ptr, len);
  } else if (type == LwType.Boolean) {
    c.encodeUint(4);
    c.encodeBool(iv != 0);
  } else if (type == LwType.Objlnk) {
    c.encodeText(VLO, 3);
    c.encodeText(NUM_TMP, formatObjlnk(NUM_TMP, <u32>iv));
  } else {
    c.encodeUint(2);
    if (type == LwType.Float) c.encodeFloat(fv);
    else if (type == LwType.UnsignedInteger) c.encodeUint(<u64>iv);
    else c.encodeInt(iv);
  }
  if (hasT) { c.encodeUint(6); putTime(c, enc.time); }
  if (c.err) enc.fail(FormatError.OutOfSpace);
}

/** The definite array head in front of the records (shortest form), records moved down to it. */
export function scFinish(enc: LwEncoderCore): void {
  const c = enc.cbor;
  if (c.err) { enc.fail(FormatError.OutOfSpace); return; }
  const body = <u32>c.needed;
  const n = <u32>enc.count;
  const h: u32 = n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  const b = enc.buf;
  memory.copy(b + h, b + HEAD_MAX, body);
  if (h == 1) store<u8>(b, <u8>(0x80 | n));
  else if (h == 2) { store<u8>(b, 0x98); store<u8>(b + 1, <u8>n); }
  else if (h == 3) { store<u8>(b, 0x99); store<u16>(b + 1, bswap<u16>(<u16>n)); }
  else { store<u8>(b, 0x9a); store<u32>(b + 1, bswap<u32>(n)); }
  enc.pos = h + body;
}

// SenML JSON, application/senml+json (110): RFC 8428 §5 as LwM2M 1.1 §7.4.4
// uses it: records with "bn", "bt", "n", "t" and one of "v", "vs", "vb", "vd"
// (base64url, RFC 8428 §4.3) or LwM2M's "vlo" (Objlnk "oid:iid"). Unknown
// fields are skipped unless their label ends in "_" (§4.4: must be
// understood -> Unsupported); "bver" above 10 and a nonzero "bv" are refused.
// The writer produces the compact form of the TS examples:
//   [{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"1",...}]
import { LwEncoderCore, LwDecoderCore, LwPath, LwType, FormatError, NAME_CAP, NUM_TEXT } from "./types";
import { jsonWs, jsonString, jsonEsc, jsonLiteral, jsonSkipValue, jsonUnescape, LIT_TRUE, LIT_FALSE } from "./json";
import {
  scanNumber, numMant, numErr, decimalToF64, decimalToU64, formatI64, formatU64, formatF64, base64Len, base64Encode,
  validUtf8, NUM_TMP,
} from "./numbers";
import { senmlResolve, valueKind, Field, senmlNames, nmBnLen, nmNLen, NM_BN, NM_N, formatTime } from "./senml";
import { formatObjlnk } from "./text";

const MUST_UNDERSTAND: u32 = 0x80000000;
const STRING_FIELDS: u32 = Field.BN | Field.N | Field.VS | Field.VD | Field.VLO | Field.BU | Field.U;
const NUMBER_FIELDS: u32 = Field.BT | Field.T | Field.V | Field.BV | Field.BS | Field.S | Field.UT | Field.BVER;

// SenML JSON labels (RFC 8428 Table 2, plus "vlo") as little-endian u32, and their Field bits
const LABELS = memory.data<u32>([
  0x6e62, 0x7462, 0x7562, 0x7662, 0x7362, 0x72657662, 0x6e, 0x75, 0x76, 0x7376, 0x6276, 0x6476, 0x73, 0x74, 0x7475, 0x6f6c76,
]); // bn bt bu bv bs bver n u v vs vb vd s t ut vlo
const LABEL_BITS = memory.data<u8>([0, 1, 12, 10, 11, 9, 2, 13, 4, 5, 6, 7, 14, 3, 15, 8]); // Field = 1 << bit

/** Label -> Field bit; 0 unknown. */
function labelField(p: usize, n: i32): u32 {
  if (n > 0 && load<u8>(p + n - 1) == 0x5f) return MUST_UNDERSTAND;
  if (n > 4 || n <= 0) return 0;
  let k: u32 = 0;
  for (let i = 0; i < n; i++) k |= <u32>load<u8>(p + i) << (<u32>i << 3);
  for (let i: usize = 0; i < 16; i++) if (load<u32>(LABELS + (i << 2)) == k) return <u32>1 << load<u8>(LABEL_BITS + i);
  return 0;
}

// ---------------------------------------------------------------------------
// Decoder

export function sjInit(dec: LwDecoderCore): i32 {
  const p = jsonWs(dec.buf, dec.end);
  if (p >= dec.end || load<u8>(p) != 0x5b) return FormatError.Malformed;
  dec.pos = p + 1;
  dec.state = 0;
  return 0;
}

export function sjNext(dec: LwDecoderCore): i32 {
  if (dec.state == 2) return 0;
  const end = dec.end;
  let p = jsonWs(dec.pos, end);
  if (p >= end) return FormatError.Malformed;
  const c = load<u8>(p);
  if (c == 0x5d) { // ']' closes the pack; only whitespace may follow
    p = jsonWs(p + 1, end);
    if (p != end) return FormatError.Malformed;
    dec.state = 2;
    dec.pos = p;
    return 0;
  }
  if (dec.state == 1) {
    if (c != 0x2c) return FormatError.Malformed;
    p = jsonWs(p + 1, end);
  }
  dec.state = 1;
  return record(dec, p);
}

function record(dec: LwDecoderCore, p: usize): i32 {
  const end = dec.end;
  if (p >= end || load<u8>(p) != 0x7b) return FormatError.Malformed;
  p = jsonWs(p + 1, end);
  let seen: u32 = 0;
  let bnP: usize = 0;
  let bnL = 0;
  let bnE = false;
  let nP: usize = 0;
  let nL = 0;
  let nE = false;
  let t: f64 = NaN;
  if (p < end && load<u8>(p) == 0x7d) p++;
  else while (true) {
    const k = jsonString(p, end);
    if (!k) return FormatError.Malformed;
    let f: u32;
    if (jsonEsc) {
      const n = jsonUnescape(p + 1, k - 1, dec.nameBuf, NAME_CAP); // nameBuf is free until the record resolves
      if (n < 0) return FormatError.Malformed;
      f = labelField(dec.nameBuf, n);
    } else {
      f = labelField(p + 1, <i32>(k - 2 - p));
    }
    if (f == MUST_UNDERSTAND) return FormatError.Unsupported;
    p = jsonWs(k, end);
    if (p >= end || load<u8>(p) != 0x3a) return FormatError.Malformed;
    p = jsonWs(p + 1, end);
    if (f & seen) return FormatError.Malformed; // a label twice in one record
    seen |= f;
    if (f & STRING_FIELDS) {
      const e = jsonString(p, end);
      if (!e) return FormatError.Malformed;
      const sp = p + 1;
      const sl = <i32>(e - 1 - sp);
      if (f == Field.BN) { bnP = sp; bnL = sl; bnE = jsonEsc; }
      else if (f == Field.N) { nP = sp; nL = sl; nE = jsonEsc; }
      else if (f & Field.VALUES) { dec.valPtr = sp; dec.valLen = sl; dec.valEsc = jsonEsc; }
      p = e;
    } else if (f & NUMBER_FIELDS) {
      const e = scanNumber(p, end);
      if (!e) return FormatError.Malformed;
      if (f == Field.V) {
        dec.valPtr = p;
        dec.valLen = <i32>(e - p);
        dec.numKind = NUM_TEXT;
        decimalToF64(); // a "v" must be a binary64 (RFC 8428 §5): refuse overflow now
        if (numErr) return FormatError.Malformed;
      } else if (f == Field.T || f == Field.BT) {
        const x = decimalToF64();
        if (numErr) return FormatError.Malformed;
        if (f == Field.T) t = x; else dec.bt = x;
      } else if (f == Field.BVER) {
        const v = decimalToU64();
        if (numErr) return FormatError.Malformed;
        if (v > 10) return FormatError.Unsupported; // a later SenML version (§4.4)
      } else if (f == Field.BV && numMant) {
        return FormatError.Unsupported; // base values would change LwM2M values
      }
      p = e;
    } else if (f == Field.VB) {
      let e = jsonLiteral(p, end, LIT_TRUE);
      dec.numMant = 1;
      if (!e) { e = jsonLiteral(p, end, LIT_FALSE); dec.numMant = 0; }
      if (!e) return FormatError.Malformed;
      p = e;
    } else {
      p = jsonSkipValue(p, end);
      if (!p) return FormatError.Malformed;
    }
    p = jsonWs(p, end);
    if (p >= end) return FormatError.Malformed;
    const c = load<u8>(p++);
    if (c == 0x7d) break;
    if (c != 0x2c) return FormatError.Malformed;
    p = jsonWs(p, end);
  }
  dec.pos = p;
  const e = valueKind(dec, seen);
  if (e) return e;
  return senmlResolve(dec, bnP, bnL, bnE, nP, nL, nE, t);
}

// ---------------------------------------------------------------------------
// Encoder

export function sjBegin(enc: LwEncoderCore): void { enc.put8(0x5b); }
export function sjFinish(enc: LwEncoderCore): void { enc.put8(0x5d); }

/** "text" with the escapes RFC 8259 §7 requires; the text must be UTF-8. */
function putString(enc: LwEncoderCore, p: usize, n: i32): void {
  if (!validUtf8(p, n)) { enc.fail(FormatError.InvalidValue); return; }
  enc.put8(0x22);
  for (let i = 0; i < n; i++) {
    const c = <u32>load<u8>(p + i);
    if (c == 0x22 || c == 0x5c) { enc.put8(0x5c); enc.put8(c); }
    else if (c < 0x20) {
      enc.put8(0x5c);
      if (c == 0x0a) enc.put8(0x6e);
      else if (c == 0x0d) enc.put8(0x72);
      else if (c == 0x09) enc.put8(0x74);
      else {
        enc.putAscii(0x303075); // u00
        enc.put8(0x30 + (c >> 4));
        enc.put8((c & 15) < 10 ? 0x30 + (c & 15) : 0x57 + (c & 15));
      }
    } else enc.put8(c);
  }
  enc.put8(0x22);
}

function putNumber(enc: LwEncoderCore, n: i32): void {
  if (n < 0) enc.fail(FormatError.InvalidValue);
  else enc.putBytes(NUM_TMP, n);
}

export function sjWrite(enc: LwEncoderCore, p: LwPath, type: i32, iv: i64, fv: f64, ptr: usize, len: i32): void {
  if (enc.count) enc.put8(0x2c);
  enc.put8(0x7b);
  const first = senmlNames(enc, p);
  let sep = false;
  if (first) {
    enc.putAscii(0x3a226e6222); // "bn":
    putString(enc, NM_BN, nmBnLen);
    if (!isNaN(enc.baseTime)) {
      enc.putAscii(0x3a227462222c); // ,"bt":
      putNumber(enc, formatTime(NUM_TMP, enc.baseTime));
    }
    sep = true;
  }
  if (nmNLen) {
    if (sep) enc.put8(0x2c);
    enc.putAscii(0x3a226e22); // "n":
    putString(enc, NM_N, nmNLen);
    sep = true;
  }
  if (sep) enc.put8(0x2c);
  if (type == LwType.String || type == LwType.Corelnk) {
    enc.putAscii(0x3a22737622); // "vs":
    putString(enc, ptr, len);
  } else if (type == LwType.Opaque) {
    enc.putAscii(0x223a22647622); // "vd":"
    const d = enc.reserve(base64Len(len, true));
    if (d) base64Encode(ptr, len, d, true);
    enc.put8(0x22);
  } else if (type == LwType.Boolean) {
    enc.putAscii(0x3a22627622); // "vb":
    enc.putAscii(iv ? LIT_TRUE : LIT_FALSE);
  } else if (type == LwType.Objlnk) {
    enc.putAscii(0x3a226f6c7622); // "vlo":
    putString(enc, NUM_TMP, formatObjlnk(NUM_TMP, <u32>iv));
  } else {
    enc.putAscii(0x3a227622); // "v":
    putNumber(enc, type == LwType.Float ? formatF64(NUM_TMP, fv)
      : type == LwType.UnsignedInteger ? formatU64(NUM_TMP, <u64>iv) : formatI64(NUM_TMP, iv));
  }
  if (!isNaN(enc.time)) {
    enc.putAscii(0x3a2274222c); // ,"t":
    putNumber(enc, formatTime(NUM_TMP, enc.time));
  }
  enc.put8(0x7d);
}

// SenML (RFC 8428) parts shared by SenML JSON (110) and SenML CBOR (112) as
// LwM2M 1.1 §7.4.4 / §7.4.5 use them: name resolution (bn + n, §4.5.1) into
// an LwM2M path under the request path, time resolution (bt + t, §4.5.3),
// and the typed accessors for "v", "vs", "vb", "vd", "vlo".
import {
  LwDecoderCore, LwEncoderCore, LwPath, FormatError, EntryKind, ValueHint, ContentFormat, NAME_CAP, NUM_TEXT, NUM_BIN,
  pathParse, pathFormat, formatId, ENC_FIRST_DONE, ENC_CLOSED,
} from "./types";
import { jsonUnescape } from "./json";
import { CborValue, cborParserInit } from "../../cbor/index";
import {
  scanNumber, setDecimal, numErr, decimalToI64, decimalToU64, decimalToF64, base64Decode, formatI64, formatF64,
} from "./numbers";
import { parseObjlnk } from "./text";
import { HAS_SENML_JSON } from "../../profile";

/**
 * A text field to dst: JSON string contents (escaped when esc), or a CBOR
 * string (definite: its bytes; esc = indefinite, ptr at its head). Returns
 * the length or a FormatError (OutOfSpace above cap).
 */
export function copyText(dec: LwDecoderCore, ptr: usize, len: i32, esc: bool, dst: usize, cap: i32): i32 {
  if (!esc) {
    if (len > cap) return FormatError.OutOfSpace;
    memory.copy(dst, ptr, len);
    return len;
  }
  if (HAS_SENML_JSON && dec.format == ContentFormat.SENML_JSON) return jsonUnescape(ptr, ptr + <usize>len, dst, cap);
  const it = changetype<CborValue>(dec.cbor1); // free outside record parsing
  let n = cborParserInit(it, ptr, <i32>(dec.end - ptr), 1);
  if (!n) n = it.copyString(dst, cap);
  return n >= 0 ? n : n == -9 ? FormatError.OutOfSpace : FormatError.Malformed;
}

/**
 * Completes a record: bn (if the record has one) replaces the base name, the
 * name is bn + n, the time bt + t; the name must be an LwM2M path at or
 * below the request path (unless dec.rawNames).
 */
export function senmlResolve(
  dec: LwDecoderCore, bnPtr: usize, bnLen: i32, bnEsc: bool, nPtr: usize, nLen: i32, nEsc: bool, t: f64,
): i32 {
  if (bnPtr) {
    const n = copyText(dec, bnPtr, bnLen, bnEsc, dec.bnBuf, NAME_CAP);
    if (n < 0) return n == FormatError.OutOfSpace ? FormatError.InvalidPath : n;
    dec.bnLen = n;
  }
  const name = dec.nameBuf;
  let len = dec.bnLen;
  memory.copy(name, dec.bnBuf, len);
  if (nPtr) {
    const n = copyText(dec, nPtr, nLen, nEsc, name + <usize>len, NAME_CAP - len);
    if (n < 0) return n == FormatError.OutOfSpace ? FormatError.InvalidPath : n;
    len += n;
  }
  dec.nameLen = len;
  const bt = dec.bt;
  if (!isNaN(bt) || !isNaN(t)) dec.time = (isNaN(bt) ? 0 : bt) + (isNaN(t) ? 0 : t);
  if (dec.rawNames) return 1;
  const e = pathParse(dec.path, name, len);
  if (e) return e;
  if (!dec.base.isPrefixOf(dec.path)) return FormatError.InvalidPath;
  return 1;
}

/** Loads a "v" value: 0 = decimal in numbers.ts state, 1 = binary in dec.numF64, or a FormatError. */
export function senmlNumber(dec: LwDecoderCore): i32 {
  if (dec.hint != ValueHint.Number) return FormatError.TypeMismatch;
  if (dec.numKind == NUM_BIN) return 1;
  if (dec.numKind == NUM_TEXT) scanNumber(dec.valPtr, dec.valPtr + <usize>dec.valLen); // checked when parsed
  else setDecimal(dec.numNeg, dec.numMant, dec.numExp);
  return 0;
}

/** Integer / Time in i64, or Unsigned Integer: an integral number ("v":3800, 3.8e3, 3800.0 all give 3800). */
export function senmlInteger(dec: LwDecoderCore, unsigned: bool): i64 {
  const k = senmlNumber(dec);
  if (k < 0) return dec.bad(k);
  if (k == 1) {
    const f = dec.numF64;
    if (f != floor<f64>(f)) return dec.bad(FormatError.TypeMismatch); // fraction, NaN, infinities
    if (unsigned ? f < 0 || f >= 18446744073709551616.0 : f < -9223372036854775808.0 || f >= 9223372036854775808.0) {
      return dec.bad(FormatError.Range);
    }
    return unsigned ? <i64><u64>f : <i64>f;
  }
  const v = unsigned ? <i64>decimalToU64() : decimalToI64();
  if (numErr) return dec.bad(numErr);
  return v;
}

export function senmlFloat(dec: LwDecoderCore): f64 {
  const k = senmlNumber(dec);
  if (k < 0) { dec.err = k; return 0; }
  if (k == 1) return dec.numF64;
  const v = decimalToF64();
  if (numErr) { dec.err = numErr; return 0; }
  return v;
}

/** "vs" (or the text of "vlo"): in place when possible, else in the scratch area. */
export function senmlString(dec: LwDecoderCore): i32 {
  const h = dec.hint;
  if (h != ValueHint.String && h != ValueHint.Objlnk) return FormatError.TypeMismatch;
  if (!dec.valEsc) { dec.strPtr = dec.valPtr; return dec.valLen; }
  dec.strPtr = dec.scratch;
  return copyText(dec, dec.valPtr, dec.valLen, true, dec.scratch, dec.scratchCap);
}

/** "vd": base64url text in JSON (RFC 8428 §4.3; the standard alphabet and padding are accepted too), bytes in CBOR. */
export function senmlOpaque(dec: LwDecoderCore): i32 {
  if (dec.hint != ValueHint.Opaque) return FormatError.TypeMismatch;
  if (dec.format == ContentFormat.SENML_CBOR) {
    if (!dec.valEsc) { dec.strPtr = dec.valPtr; return dec.valLen; }
    dec.strPtr = dec.scratch;
    return copyText(dec, dec.valPtr, dec.valLen, true, dec.scratch, dec.scratchCap);
  }
  let src = dec.valPtr;
  let n = dec.valLen;
  if (dec.valEsc) {
    n = jsonUnescape(src, src + <usize>n, dec.scratch, dec.scratchCap);
    if (n < 0) return n;
    src = dec.scratch;
  }
  dec.strPtr = dec.scratch;
  n = base64Decode(src, n, dec.scratch, dec.scratchCap);
  return n == FormatError.Malformed ? FormatError.TypeMismatch : n;
}

/** "vlo": "oid:iid" (§7.4.4 table, Objlnk format of Appendix C). */
export function senmlObjlnk(dec: LwDecoderCore): u32 {
  if (dec.hint != ValueHint.Objlnk) return <u32>dec.bad(FormatError.TypeMismatch);
  const n = senmlString(dec);
  if (n < 0) return <u32>dec.bad(n);
  const v = parseObjlnk(dec.strPtr, n);
  if (v < 0) return <u32>dec.bad(FormatError.TypeMismatch);
  return <u32>v;
}

/** Record field bits, shared by both SenML decoders (duplicate detection). */
export namespace Field {
  export const BN: u32 = 1 << 0;
  export const BT: u32 = 1 << 1;
  export const N: u32 = 1 << 2;
  export const T: u32 = 1 << 3;
  export const V: u32 = 1 << 4;
  export const VS: u32 = 1 << 5;
  export const VB: u32 = 1 << 6;
  export const VD: u32 = 1 << 7;
  export const VLO: u32 = 1 << 8;
  export const BVER: u32 = 1 << 9;
  export const BV: u32 = 1 << 10;
  export const BS: u32 = 1 << 11;
  export const BU: u32 = 1 << 12;
  export const U: u32 = 1 << 13;
  export const S: u32 = 1 << 14;
  export const UT: u32 = 1 << 15;
  export const VALUES: u32 = V | VS | VB | VD | VLO;
}

/** Value field -> ValueHint. */
export function hintOf(f: u32): i32 {
  return f == Field.V ? ValueHint.Number : f == Field.VS ? ValueHint.String : f == Field.VB ? ValueHint.Boolean
    : f == Field.VD ? ValueHint.Opaque : ValueHint.Objlnk;
}

/** Sets kind from the fields seen: a record has at most one value field (RFC 8428 §4.2). */
export function valueKind(dec: LwDecoderCore, seen: u32): i32 {
  const v = seen & Field.VALUES;
  if (v & (v - 1)) return FormatError.Malformed;
  dec.kind = v ? EntryKind.Value : EntryKind.NoValue;
  if (v) dec.hint = hintOf(v);
  return 0;
}

// ---------------------------------------------------------------------------
// Writers: record names. The first record carries "bn": the request path with
// a trailing "/" ("/3/0/"), or the path itself when the value is at the
// request path ("/3/0/0", no "n"), or "/" for a root request (Read-Composite,
// Send). Every record's "n" is the rest of its path ("0", "6/1", "3/0/1").

export const NM_BN = memory.data(32, 4);
export const NM_N = memory.data(32, 4);
export let nmBnLen: i32 = 0;
export let nmNLen: i32 = 0;

/** Fills NM_BN (first record only) and NM_N for a value at p; returns true for the first record. */
export function senmlNames(enc: LwEncoderCore, p: LwPath): bool {
  const b = enc.base;
  const bl = b.level();
  const pl = p.level();
  const first = !(enc.flags & ENC_FIRST_DONE);
  enc.flags |= ENC_FIRST_DONE;
  if (pl == bl) {
    if (!first) enc.fail(FormatError.State);
    enc.flags |= ENC_CLOSED;
  }
  if (first) {
    let n = pathFormat(b, NM_BN);
    if (bl > 0 && pl > bl) { store<u8>(NM_BN + <usize>n, 0x2f); n++; }
    nmBnLen = n;
  }
  let o = NM_N;
  for (let i = bl; i < pl; i++) {
    if (i > bl) store<u8>(o++, 0x2f);
    o += <usize>formatId(o, p.id(i));
  }
  nmNLen = <i32>(o - NM_N);
  return first;
}

/** A SenML time: integral seconds as an integer (as in the TS examples), else the shortest float. */
export function formatTime(dst: usize, x: f64): i32 {
  if (x == floor<f64>(x) && abs<f64>(x) <= 9007199254740992.0) return formatI64(dst, <i64>x);
  return formatF64(dst, x);
}

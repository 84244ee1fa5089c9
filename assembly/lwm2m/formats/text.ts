// text/plain (0) and application/octet-stream (42): one Resource or Resource
// Instance value (LwM2M 1.1 §7.4.1 Plain Text, §7.4.2 Opaque). Text forms from
// Appendix C: Integer / Unsigned Integer / Time in decimal, Float in decimal
// (with fraction / exponent), Boolean "0" / "1", Opaque in base64 (RFC 4648
// §4), Objlnk "oid:iid", String and Corelnk as UTF-8.
import { LwEncoderCore, LwDecoderCore, LwPath, LwType, FormatError, ContentFormat, EntryKind, ENC_CLOSED } from "./types";
import {
  scanNumber, numHasFrac, numErr, decimalToI64, decimalToU64, decimalToF64, formatI64, formatU64, formatF64,
  base64Len, base64Encode, base64Decode, NUM_TMP,
} from "./numbers";

// ---------------------------------------------------------------------------
// Encoder

export function textWrite(enc: LwEncoderCore, p: LwPath, type: i32, iv: i64, fv: f64, ptr: usize, len: i32): void {
  if (!enc.base.equals(p)) { enc.fail(FormatError.NotAcceptable); return; }
  enc.flags |= ENC_CLOSED;
  if (enc.format == ContentFormat.OPAQUE) {
    if (type != LwType.Opaque) { enc.fail(FormatError.NotAcceptable); return; }
    enc.putBytes(ptr, len);
    return;
  }
  if (type == LwType.String || type == LwType.Corelnk) { enc.putBytes(ptr, len); return; }
  if (type == LwType.Opaque) {
    const d = enc.reserve(base64Len(len, false));
    if (d) base64Encode(ptr, len, d, false);
    return;
  }
  if (type == LwType.Objlnk) { putObjlnk(enc, <u32>iv); return; }
  const n = formatValue(NUM_TMP, type, iv, fv);
  if (n < 0) enc.fail(FormatError.InvalidValue);
  else enc.putBytes(NUM_TMP, n);
}

/** Integer / Unsigned / Time / Float / Boolean in text at dst (F64_MAX_CHARS bytes); -1 for a non-finite float. */
export function formatValue(dst: usize, type: i32, iv: i64, fv: f64): i32 {
  if (type == LwType.Float) return formatF64(dst, fv);
  if (type == LwType.Boolean) { store<u8>(dst, <u8>(0x30 + <i32>iv)); return 1; }
  if (type == LwType.UnsignedInteger) return formatU64(dst, <u64>iv);
  return formatI64(dst, iv);
}

export function textFinish(enc: LwEncoderCore): void {}

/** "oid:iid" (Appendix C Objlnk; also the SenML "vlo" value). */
export function putObjlnk(enc: LwEncoderCore, v: u32): void {
  enc.putBytes(NUM_TMP, formatObjlnk(NUM_TMP, v));
}

export function formatObjlnk(dst: usize, v: u32): i32 {
  let n = formatU64(dst, v >> 16);
  store<u8>(dst + n, 0x3a);
  return n + 1 + formatU64(dst + n + 1, v & 0xffff);
}

// ---------------------------------------------------------------------------
// Decoder: one entry, the request path, the whole payload.

export function textNext(dec: LwDecoderCore): i32 {
  if (dec.state) return 0;
  dec.state = 1;
  dec.path.copyFrom(dec.base);
  dec.kind = EntryKind.Value;
  dec.valPtr = dec.buf;
  dec.valLen = <i32>(dec.end - dec.buf);
  return 1;
}

/** Scans the whole value as a number; integers must have no fraction or exponent part. */
function textNumber(dec: LwDecoderCore, integer: bool): i32 {
  const end = dec.valPtr + <usize>dec.valLen;
  if (scanNumber(dec.valPtr, end) != end || (integer && numHasFrac)) return FormatError.TypeMismatch;
  return 0;
}

export function textInteger(dec: LwDecoderCore, unsigned: bool): i64 {
  const e = textNumber(dec, true);
  if (e) return dec.bad(e);
  const v = unsigned ? <i64>decimalToU64() : decimalToI64();
  if (numErr) return dec.bad(numErr);
  return v;
}

export function textFloat(dec: LwDecoderCore): f64 {
  const e = textNumber(dec, false);
  if (e) { dec.err = e; return 0; }
  const v = decimalToF64();
  if (numErr) { dec.err = numErr; return 0; }
  return v;
}

export function textBool(dec: LwDecoderCore): bool {
  const c = dec.valLen == 1 ? <u32>load<u8>(dec.valPtr) - 0x30 : 2;
  if (c > 1) dec.err = FormatError.TypeMismatch;
  return c == 1;
}

export function textObjlnk(dec: LwDecoderCore): u32 {
  const v = parseObjlnk(dec.valPtr, dec.valLen);
  if (v < 0) { dec.err = FormatError.TypeMismatch; return 0; }
  return <u32>v;
}

/** Base64 (standard or URL-safe alphabet) into the scratch area. */
export function textOpaque(dec: LwDecoderCore): i32 {
  const n = base64Decode(dec.valPtr, dec.valLen, dec.scratch, dec.scratchCap);
  if (n == FormatError.Malformed) return FormatError.TypeMismatch;
  dec.strPtr = dec.scratch;
  return n;
}

/** "oid:iid", each 0..65535 in decimal (leading zeros allowed, as in "10:03"): (oid << 16) | iid, or -1. */
export function parseObjlnk(p: usize, len: i32): i64 {
  let v: u32 = 0;
  let part: u32 = 0;
  let digits = 0;
  let colon = false;
  for (let i = 0; i < len; i++) {
    const c = <u32>load<u8>(p + i);
    if (c == 0x3a && !colon && digits) {
      v = part << 16;
      part = 0;
      digits = 0;
      colon = true;
      continue;
    }
    const d = c - 0x30;
    if (d > 9 || ++digits > 5) return -1;
    part = part * 10 + d;
    if (part > 0xffff) return -1;
  }
  if (!colon || !digits) return -1;
  return <i64>(v | part);
}

// LwM2M content formats: the format-neutral interface between the data model
// and the encoders / decoders of OMA-TS-LightweightM2M_Core-V1_1 §7.4 "Data
// Formats for Transferring Resource Information". Identifiers §7.3 (MAX_ID
// 65535 reserved), data types Appendix C.
//
// Heap-free: an LwEncoder / LwDecoder lives in caller memory
// (LW_ENCODER_SIZE / LW_DECODER_SIZE bytes), placed with changetype:
//   const enc = changetype<LwEncoder>(ptr); enc.init(ContentFormat.TLV, out, cap);
//   enc.begin(base); enc.writeInt(path, 5); ... const n = enc.finish();
//   const dec = changetype<LwDecoder>(ptr2);
//   if (dec.init(format, payload, len, base, scratch, cap) == 0)
//     while (dec.next() > 0) { ... dec.kind, dec.path ... const v = dec.asInt(); if (dec.err) ... }
// Decoders check the whole payload at init (structure, identifiers, names,
// nesting), so a Write can be refused before anything is applied; value types
// are checked by the accessors, so the data model should walk the entries
// once to check, reset(), and walk again to apply.
import {
  ContentFormat, LwType, FormatError, LwPath, LwEncoderCore, LwDecoderCore, EntryKind, ValueHint, ENC_BEGUN, ENC_CLOSED,
} from "./types";
import {
  tlvBeginContainer, tlvEndContainer, tlvWrite, tlvFinish, tlvNext, tlvInteger, tlvFloat,
  tlvBool, tlvObjlnk, tlvDecoderInit,
} from "./tlv";
import { textWrite, textFinish, textNext, textInteger, textFloat, textBool, textObjlnk, textOpaque } from "./text";
import { sjBegin, sjWrite, sjFinish, sjInit, sjNext } from "./senml_json";
import { scBegin, scWrite, scFinish, scInit, scStart, scNext } from "./senml_cbor";
import { senmlInteger, senmlFloat, senmlObjlnk, senmlString, senmlOpaque } from "./senml";
import { validUtf8 } from "./numbers";
import { HAS_SENML_JSON } from "../../profile";

export {
  ContentFormat, LwType, FormatError, formatErrorToCoap, ID_NONE, ID_MAX, LwPath, LWPATH_SIZE, pathAppendSegment, pathParse,
  pathFormat, formatId, ENC_CLOSED, ENC_FIRST_DONE, LW_ENCODER_SIZE, EntryKind, ValueHint, NUM_TEXT, NUM_DEC, NUM_BIN,
  NAME_CAP, LW_DECODER_SIZE,
} from "./types";

// ---------------------------------------------------------------------------
// Encoder

/**
 * One encoder for every value format, chosen by Content-Format at init. The
 * data model writes values in path order with full paths under the request
 * path given to begin(); TLV Object Instance and Multiple Resource TLVs are
 * opened and closed automatically as paths change, and beginInstance /
 * beginMultiple exist for the empty ones (a Multiple Resource with no
 * instances MUST still be sent as a Multiple Resource TLV, §7.4.3). In
 * SenML the container calls only check their path. Errors are sticky.
 */
@unmanaged
export class LwEncoder extends LwEncoderCore {
  /** NotAcceptable when the format is not a value format this client produces. */
  init(format: u32, buf: usize, cap: i32): i32 {
    this.buf = buf;
    this.cap = <u32>max(cap, 0);
    this.pos = 0;
    this.flags = 0;
    this.count = 0;
    this.format = format;
    this.instAt = -1;
    this.multAt = -1;
    this.time = NaN;
    this.baseTime = NaN;
    this.base.clear();
    this.err = format == ContentFormat.TLV || format == ContentFormat.TEXT || format == ContentFormat.OPAQUE ||
      HAS_SENML_JSON && format == ContentFormat.SENML_JSON || format == ContentFormat.SENML_CBOR ? 0 : FormatError.NotAcceptable; // HAS_SENML_JSON: profiles.json
    return this.err;
  }

  /** Starts the payload for the request path (a Read/Observe target, or "/" for Read-Composite and Send). */
  begin(base: LwPath): i32 {
    if (this.err) return this.err;
    if (this.flags & ENC_BEGUN) return this.fail(FormatError.State);
    this.flags = ENC_BEGUN;
    this.base.copyFrom(base);
    const f = this.format;
    const lvl = base.level();
    if ((f == ContentFormat.TEXT || f == ContentFormat.OPAQUE) && lvl < 3) return this.fail(FormatError.NotAcceptable);
    if (f == ContentFormat.TLV && lvl == 0) return this.fail(FormatError.NotAcceptable);
    if (HAS_SENML_JSON && f == ContentFormat.SENML_JSON) sjBegin(this);
    else if (f == ContentFormat.SENML_CBOR) scBegin(this);
    return this.err;
  }

  /** SenML "t" for the next value only (seconds; RFC 8428 §4.5.3). Ignored by the other formats. */
  setTime(t: f64): void { this.time = t; }
  /** SenML "bt" for the first record; call before the first value. */
  setBaseTime(t: f64): void { this.baseTime = t; }

  writeInt(p: LwPath, v: i64): i32 { return this.value(p, LwType.Integer, v, 0, 0, 0); }
  writeUint(p: LwPath, v: u64): i32 { return this.value(p, LwType.UnsignedInteger, <i64>v, 0, 0, 0); }
  writeFloat(p: LwPath, v: f64): i32 { return this.value(p, LwType.Float, 0, v, 0, 0); }
  writeBool(p: LwPath, v: bool): i32 { return this.value(p, LwType.Boolean, v ? 1 : 0, 0, 0, 0); }
  /** Unix time in seconds. */
  writeTime(p: LwPath, v: i64): i32 { return this.value(p, LwType.Time, v, 0, 0, 0); }
  /** UTF-8 bytes. */
  writeString(p: LwPath, ptr: usize, len: i32): i32 { return this.value(p, LwType.String, 0, 0, ptr, len); }
  writeOpaque(p: LwPath, ptr: usize, len: i32): i32 { return this.value(p, LwType.Opaque, 0, 0, ptr, len); }
  /** CoRE link format text, carried as a string. */
  writeCorelnk(p: LwPath, ptr: usize, len: i32): i32 { return this.value(p, LwType.Corelnk, 0, 0, ptr, len); }
  /** Object link oid:iid (65535:65535 = no link). */
  writeObjlnk(p: LwPath, oid: u32, iid: u32): i32 {
    if (oid > 0xffff || iid > 0xffff) return this.fail(FormatError.Range);
    return this.value(p, LwType.Objlnk, <i64>((oid << 16) | iid), 0, 0, 0);
  }

  /** Object Instance container (TLV emits it only for an Object-level request path). */
  beginInstance(p: LwPath): i32 { return this.container(p, 2, true); }
  endInstance(): i32 { return this.container(changetype<LwPath>(0), 2, false); }
  /** Multiple Resource container (TLV: always emitted, even with no instances). */
  beginMultiple(p: LwPath): i32 { return this.container(p, 3, true); }
  endMultiple(): i32 { return this.container(changetype<LwPath>(0), 3, false); }

  /** Closes the payload: its length, or the first error. */
  finish(): i32 {
    if (!this.err && !(this.flags & ENC_BEGUN)) this.err = FormatError.State;
    if (this.err) return this.err;
    const f = this.format;
    if (f == ContentFormat.TLV) tlvFinish(this);
    else if (HAS_SENML_JSON && f == ContentFormat.SENML_JSON) sjFinish(this);
    else if (f == ContentFormat.SENML_CBOR) scFinish(this);
    else textFinish(this);
    return this.err ? this.err : <i32>this.pos;
  }

  private value(p: LwPath, type: i32, iv: i64, fv: f64, ptr: usize, len: i32): i32 {
    if (this.err) return this.err;
    if (!(this.flags & ENC_BEGUN) || (this.flags & ENC_CLOSED)) return this.fail(FormatError.State);
    const lvl = p.level();
    if (lvl < 3 || lvl < this.base.level() || !this.base.isPrefixOf(p) || p.iid == 0xffff) {
      return this.fail(FormatError.InvalidPath);
    }
    if (len < 0) return this.fail(FormatError.Range);
    const f = this.format;
    if (f == ContentFormat.TLV) tlvWrite(this, p, type, iv, fv, ptr, len);
    else if (HAS_SENML_JSON && f == ContentFormat.SENML_JSON) sjWrite(this, p, type, iv, fv, ptr, len);
    else if (f == ContentFormat.SENML_CBOR) scWrite(this, p, type, iv, fv, ptr, len);
    else textWrite(this, p, type, iv, fv, ptr, len);
    this.time = NaN;
    this.count++;
    return this.err;
  }

  private container(p: LwPath, lvl: i32, open: bool): i32 {
    if (this.err) return this.err;
    if (!(this.flags & ENC_BEGUN) || (this.flags & ENC_CLOSED)) return this.fail(FormatError.State);
    if (open) {
      if (p.level() != lvl || !this.base.isPrefixOf(p)) return this.fail(FormatError.InvalidPath);
    }
    const f = this.format;
    if (f == ContentFormat.TLV) {
      if (open) tlvBeginContainer(this, p, lvl);
      else tlvEndContainer(this, lvl);
    } else if (f == ContentFormat.TEXT || f == ContentFormat.OPAQUE) {
      this.fail(FormatError.NotAcceptable); // a single value only
    }
    return this.err;
  }
}

// ---------------------------------------------------------------------------
// Decoder

/** One decoder for every value format, chosen by Content-Format at init. */
@unmanaged
export class LwDecoder extends LwDecoderCore {
  /**
   * Starts decoding `len` bytes at buf for the request path `base`. scratch
   * (may be 0) receives strings that cannot be returned in place (JSON
   * escapes, base64). Checks the whole payload; returns 0 or a FormatError
   * (Unsupported for Content-Formats not decoded here).
   */
  init(format: u32, buf: usize, len: i32, base: LwPath, scratch: usize, scratchCap: i32): i32 {
    this.format = format;
    this.state = 0;
    this.buf = buf;
    this.end = buf + <usize>max(len, 0);
    this.scratch = scratch;
    this.scratchCap = max(scratchCap, 0);
    this.base.copyFrom(base);
    this.bt = NaN;
    this.bnLen = 0;
    let e: i32 = 0;
    if (format == ContentFormat.TLV) e = tlvDecoderInit(this);
    else if (format == ContentFormat.TEXT || format == ContentFormat.OPAQUE) e = base.level() < 3 ? FormatError.Unsupported : 0;
    else if (HAS_SENML_JSON && format == ContentFormat.SENML_JSON) e = sjInit(this);
    else if (format == ContentFormat.SENML_CBOR) e = scInit(this);
    else e = FormatError.Unsupported;
    if (e) { this.state = -1; this.err = e; return e; }
    this.reset();
    let r: i32;
    do r = this.next(); while (r > 0);
    this.reset();
    if (r < 0) { this.state = -1; this.err = r; return r; }
    return 0;
  }

  /** Back to the first entry. */
  reset(): void {
    if (this.state < 0) return;
    this.pos = this.buf;
    this.state = 0;
    this.instEnd = 0;
    this.multEnd = 0;
    this.bt = NaN;
    this.bnLen = 0;
    this.err = 0;
    if (HAS_SENML_JSON && this.format == ContentFormat.SENML_JSON) sjInit(this);
    else if (this.format == ContentFormat.SENML_CBOR) scStart(this);
  }

  /** Moves to the next entry: 1, 0 at the end, or a FormatError. */
  next(): i32 {
    if (this.state < 0) return this.err;
    this.err = 0;
    this.time = NaN;
    this.hint = ValueHint.Raw;
    this.numKind = 0;
    this.valEsc = false;
    this.path.clear();
    const f = this.format;
    let r: i32;
    if (f == ContentFormat.TLV) r = tlvNext(this);
    else if (HAS_SENML_JSON && f == ContentFormat.SENML_JSON) r = sjNext(this);
    else if (f == ContentFormat.SENML_CBOR) r = scNext(this);
    else r = textNext(this);
    if (r < 0) { this.state = -1; this.err = r; }
    return r;
  }

  // -- typed accessors: the expected LwType comes from the data model; each sets `err` --

  /** Integer (LwType.Integer or Time). */
  asInt(): i64 { return this.integer(false); }
  /** Time (Unix seconds): as asInt. */
  asTime(): i64 { return this.integer(false); }
  /** Unsigned Integer (0 .. 2^64-1). */
  asUint(): u64 { return <u64>this.integer(true); }
  private integer(unsigned: bool): i64 {
    this.err = 0;
    const f = this.format;
    if (this.kind != EntryKind.Value || f == ContentFormat.OPAQUE) return this.bad(FormatError.TypeMismatch);
    if (f == ContentFormat.TLV) return tlvInteger(this, unsigned);
    if (f == ContentFormat.TEXT) return textInteger(this, unsigned);
    return senmlInteger(this, unsigned);
  }
  asFloat(): f64 {
    this.err = 0;
    if (this.kind != EntryKind.Value) { this.err = FormatError.TypeMismatch; return 0; }
    const f = this.format;
    if (f == ContentFormat.TLV) return tlvFloat(this);
    if (f == ContentFormat.TEXT) return textFloat(this);
    if (f == ContentFormat.OPAQUE) { this.err = FormatError.TypeMismatch; return 0; }
    return senmlFloat(this);
  }
  asBool(): bool {
    this.err = 0;
    if (this.kind != EntryKind.Value) { this.err = FormatError.TypeMismatch; return false; }
    const f = this.format;
    if (f == ContentFormat.TLV) return tlvBool(this);
    if (f == ContentFormat.TEXT) return textBool(this);
    if (f != ContentFormat.OPAQUE && this.hint == ValueHint.Boolean) return this.numMant != 0;
    this.err = FormatError.TypeMismatch;
    return false;
  }
  /** Object link as (oid << 16) | iid. */
  asObjlnk(): u32 {
    this.err = 0;
    if (this.kind != EntryKind.Value) return <u32>this.bad(FormatError.TypeMismatch);
    const f = this.format;
    if (f == ContentFormat.TLV) return tlvObjlnk(this);
    if (f == ContentFormat.TEXT) return textObjlnk(this);
    if (f == ContentFormat.OPAQUE) return <u32>this.bad(FormatError.TypeMismatch);
    return senmlObjlnk(this);
  }
  /** String or Corelnk: UTF-8 bytes [strPtr, strPtr + length); returns the length or a FormatError. */
  asString(): i32 {
    this.err = 0;
    let n: i32;
    if (this.kind != EntryKind.Value) n = FormatError.TypeMismatch;
    else {
      const f = this.format;
      if (f == ContentFormat.TLV || f == ContentFormat.TEXT) { this.strPtr = this.valPtr; n = this.valLen; }
      else if (f == ContentFormat.OPAQUE) n = FormatError.TypeMismatch;
      else n = senmlString(this);
      if (n >= 0 && !validUtf8(this.strPtr, n)) n = FormatError.InvalidValue;
    }
    if (n < 0) this.err = n;
    return n;
  }
  asCorelnk(): i32 { return this.asString(); }
  /** Opaque bytes [strPtr, strPtr + length); returns the length or a FormatError. */
  asOpaque(): i32 {
    this.err = 0;
    let n: i32;
    if (this.kind != EntryKind.Value) n = FormatError.TypeMismatch;
    else {
      const f = this.format;
      if (f == ContentFormat.TLV || f == ContentFormat.OPAQUE) { this.strPtr = this.valPtr; n = this.valLen; }
      else if (f == ContentFormat.TEXT) n = textOpaque(this);
      else n = senmlOpaque(this);
    }
    if (n < 0) this.err = n;
    return n;
  }
  /** The value as the given LwType, for checks: 0 when it is readable as that type, else the FormatError. */
  check(type: i32): i32 {
    if (type == LwType.Integer || type == LwType.Time || type == LwType.UnsignedInteger) this.integer(type == LwType.UnsignedInteger);
    else if (type == LwType.Float) this.asFloat();
    else if (type == LwType.Boolean) this.asBool();
    else if (type == LwType.Objlnk) this.asObjlnk();
    else if (type == LwType.String || type == LwType.Corelnk) this.asString();
    else if (type == LwType.Opaque) this.asOpaque();
    else this.err = this.kind == EntryKind.Value && (this.valLen == 0 || this.format != ContentFormat.TLV) ? 0 : FormatError.TypeMismatch;
    return this.err;
  }
}

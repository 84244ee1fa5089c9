// LwM2M TLV, application/vnd.oma.lwm2m+tlv (11542): LwM2M 1.1 §7.4.3.
// Type byte: bits 7-6 identifier type (00 Object Instance, 01 Resource
// Instance, 10 Multiple Resource, 11 Resource with Value), bit 5 identifier
// length (8 / 16 bits), bits 4-3 length type (0: length in bits 2-0, else an
// 8 / 16 / 24-bit length field). Values (Appendix C): Integer / Time 1, 2, 4
// or 8 bytes two's complement, Unsigned Integer 1, 2, 4 or 8 bytes, Float 4 or
// 8 bytes IEEE 754, Boolean 1 byte 0 / 1, Objlnk 4 bytes (oid, iid), String,
// Opaque and Corelnk as bytes; all big-endian. Nesting is at most Object
// Instance > Multiple Resource > Resource Instance.
import { LwEncoderCore, LwDecoderCore, LwPath, LwType, FormatError, EntryKind, ENC_CLOSED } from "./types";
import { loadBe16, loadBe24, loadBe32, loadBe64, storeBe16, storeBe24, storeBe32, storeBe64 } from "../../util/bytes";

const T_INSTANCE: u32 = 0x00;
const T_RES_INSTANCE: u32 = 0x40;
const T_MULTIPLE: u32 = 0x80;
const T_RESOURCE: u32 = 0xc0;
/** Largest header: type, 16-bit identifier, 24-bit length. */
const HDR_MAX: i32 = 6;
const LEN_MAX: u32 = 0xffffff;

// @ts-ignore: decorator
@inline function headerLen(id: u32, len: u32): i32 {
  return (id > 0xff ? 3 : 2) + (len < 8 ? 0 : len < 0x100 ? 1 : len < 0x10000 ? 2 : 3);
}

/** Shortest header for (type, id, len) at d; returns its length. */
function putHeader(d: usize, type: u32, id: u32, len: u32): i32 {
  let t = type;
  let p = d + 1;
  if (id > 0xff) { t |= 0x20; storeBe16(p, id); p += 2; } else { store<u8>(p, <u8>id); p++; }
  if (len < 8) t |= len;
  else if (len < 0x100) { t |= 0x08; store<u8>(p, <u8>len); p++; }
  else if (len < 0x10000) { t |= 0x10; storeBe16(p, len); p += 2; }
  else { t |= 0x18; storeBe24(p, len); p += 3; }
  store<u8>(d, <u8>t);
  return <i32>(p - d);
}

// ---------------------------------------------------------------------------
// Encoder

function open(enc: LwEncoderCore, lvl: i32, id: u32): void {
  const at = <i32>enc.pos;
  if (!enc.reserve(HDR_MAX)) return;
  if (lvl == 2) { enc.instAt = at; enc.instId = id; } else { enc.multAt = at; enc.multId = id; }
}

/** Closes the container opened at `at`: shortest header, content moved down to it. */
function close(enc: LwEncoderCore, lvl: i32): void {
  const at = lvl == 2 ? enc.instAt : enc.multAt;
  if (at < 0) return;
  if (lvl == 2) enc.instAt = -1; else enc.multAt = -1;
  if (enc.err) return;
  const content = enc.buf + <usize>at + HDR_MAX;
  const len = enc.pos - <u32>(at + HDR_MAX);
  if (len > LEN_MAX) { enc.fail(FormatError.Range); return; }
  const id = lvl == 2 ? enc.instId : enc.multId;
  const h = headerLen(id, len);
  memory.copy(enc.buf + <usize>at + <usize>h, content, len);
  putHeader(enc.buf + <usize>at, lvl == 2 ? T_INSTANCE : T_MULTIPLE, id, len);
  enc.pos = <u32>(at + h) + len;
}

/** Object Instance TLVs are used only for an Object-level request path (§7.4.3). */
function ensureInstance(enc: LwEncoderCore, iid: u32): void {
  if (enc.base.level() > 1) return;
  if (enc.instAt >= 0 && enc.instId != iid) { close(enc, 3); close(enc, 2); }
  if (enc.instAt < 0) open(enc, 2, iid);
}

export function tlvBeginContainer(enc: LwEncoderCore, p: LwPath, lvl: i32): void {
  if (enc.base.level() == 4) { enc.fail(FormatError.State); return; }
  if (lvl == 2) {
    if (enc.base.level() <= 1) {
      close(enc, 3);
      close(enc, 2);
      open(enc, 2, p.iid);
    }
    return;
  }
  ensureInstance(enc, p.iid);
  close(enc, 3);
  open(enc, 3, p.rid);
}

export function tlvEndContainer(enc: LwEncoderCore, lvl: i32): void {
  close(enc, 3);
  if (lvl == 2) close(enc, 2);
}

export function tlvFinish(enc: LwEncoderCore): void {
  close(enc, 3);
  close(enc, 2);
}

const VAL = memory.data(8, 8);

export function tlvWrite(enc: LwEncoderCore, p: LwPath, type: i32, iv: i64, fv: f64, ptr: usize, len: i32): void {
  const bl = enc.base.level();
  const pl = p.level();
  ensureInstance(enc, p.iid);
  let t: u32;
  let id: u32;
  if (pl == 4) {
    if (bl == 4) enc.flags |= ENC_CLOSED;
    else {
      if (enc.multAt >= 0 && enc.multId != <u32>p.rid) close(enc, 3);
      if (enc.multAt < 0) open(enc, 3, p.rid);
    }
    t = T_RES_INSTANCE;
    id = p.riid;
  } else {
    close(enc, 3);
    if (bl == 3) enc.flags |= ENC_CLOSED;
    t = T_RESOURCE;
    id = p.rid;
  }
  // value bytes
  let src = ptr;
  let n = len;
  if (type == LwType.Integer || type == LwType.Time) {
    n = iv == <i64><i8>iv ? 1 : iv == <i64><i16>iv ? 2 : iv == <i64><i32>iv ? 4 : 8;
    storeBe64(VAL, <u64>iv);
    src = VAL + 8 - <usize>n;
  } else if (type == LwType.UnsignedInteger) {
    const u = <u64>iv;
    n = u <= 0xff ? 1 : u <= 0xffff ? 2 : u <= 0xffffffff ? 4 : 8;
    storeBe64(VAL, u);
    src = VAL + 8 - <usize>n;
  } else if (type == LwType.Float) {
    // 4 bytes when binary32 holds the value exactly (NaN too), else 8
    const f = <f32>fv;
    if (<f64>f == fv || isNaN(fv)) { storeBe32(VAL, reinterpret<u32>(f)); n = 4; }
    else { storeBe64(VAL, reinterpret<u64>(fv)); n = 8; }
    src = VAL;
  } else if (type == LwType.Boolean) {
    store<u8>(VAL, <u8>iv);
    n = 1;
    src = VAL;
  } else if (type == LwType.Objlnk) {
    storeBe32(VAL, <u32>iv);
    n = 4;
    src = VAL;
  }
  if (<u32>n > LEN_MAX) { enc.fail(FormatError.Range); return; }
  const h = headerLen(id, n);
  const d = enc.reserve(h + n);
  if (!d) return;
  putHeader(d, t, id, n);
  memory.copy(d + <usize>h, src, n);
}

// ---------------------------------------------------------------------------
// Decoder

export function tlvDecoderInit(dec: LwDecoderCore): i32 {
  return dec.base.level() == 0 ? FormatError.InvalidPath : 0;
}

/**
 * Next TLV in document order. Containers are entries too (EntryKind.Instance
 * / Multiple) so that empty ones reach the data model. Every child must lie
 * inside its parent and a parent must be filled exactly.
 */
export function tlvNext(dec: LwDecoderCore): i32 {
  let p = dec.pos;
  if (dec.multEnd && p == dec.multEnd) dec.multEnd = 0;
  if (!dec.multEnd && dec.instEnd && p == dec.instEnd) dec.instEnd = 0;
  const limit = dec.multEnd ? dec.multEnd : dec.instEnd ? dec.instEnd : dec.end;
  if (p >= limit) return p == dec.end ? 0 : FormatError.Malformed;
  const t = <u32>load<u8>(p);
  const idLen: usize = t & 0x20 ? 2 : 1;
  const lenType = (t >> 3) & 3;
  const hdr: usize = <usize>1 + idLen + <usize>lenType;
  if (hdr > limit - p) return FormatError.Malformed;
  const id = idLen == 2 ? loadBe16(p + 1) : <u32>load<u8>(p + 1);
  const q = p + 1 + idLen;
  const len: u32 = lenType == 0 ? t & 7 : lenType == 1 ? <u32>load<u8>(q) : lenType == 2 ? loadBe16(q) : loadBe24(q);
  const v = p + hdr;
  if (<usize>len > limit - v) return FormatError.Malformed;
  if (id == 0xffff) return FormatError.InvalidPath; // MAX_ID is reserved (§7.3)
  const type = t & 0xc0;
  const b = dec.base;
  const bl = b.level();
  const path = dec.path;
  dec.valPtr = v;
  dec.valLen = <i32>len;
  dec.pos = v + len;
  dec.kind = EntryKind.Value;
  if (dec.multEnd) {
    if (type != T_RES_INSTANCE) return FormatError.Malformed;
    path.set(b.oid, dec.curIid, dec.curRid, id);
    return 1;
  }
  if (dec.instEnd) {
    if (type == T_RESOURCE) { path.set(b.oid, dec.curIid, id, 0xffff); return 1; }
    if (type != T_MULTIPLE) return FormatError.Malformed;
    return multiple(dec, dec.curIid, id);
  }
  // top level: what may stand here depends on the request path
  if (bl <= 2) {
    if (type == T_INSTANCE) {
      if (bl == 2 && id != <u32>b.iid) return FormatError.InvalidPath;
      dec.kind = EntryKind.Instance;
      dec.curIid = id;
      dec.instEnd = v + len;
      dec.pos = v;
      path.set(b.oid, id, 0xffff, 0xffff);
      return 1;
    }
    if (type == T_RES_INSTANCE) return FormatError.Malformed;
    // Resources without an Object Instance TLV: the request's instance, or none (Create on /oid)
    const iid = bl == 2 ? <u32>b.iid : 0xffff;
    if (type == T_RESOURCE) { path.set(b.oid, iid, id, 0xffff); return 1; }
    return multiple(dec, iid, id);
  }
  if (bl == 3) {
    if (type == T_RES_INSTANCE) { path.set(b.oid, b.iid, b.rid, id); return 1; }
    if (type == T_INSTANCE) return FormatError.Malformed;
    if (id != <u32>b.rid) return FormatError.InvalidPath;
    if (type == T_RESOURCE) { path.copyFrom(b); return 1; }
    return multiple(dec, b.iid, id);
  }
  if (type != T_RES_INSTANCE) return FormatError.Malformed;
  if (id != <u32>b.riid) return FormatError.InvalidPath;
  path.copyFrom(b);
  return 1;
}

function multiple(dec: LwDecoderCore, iid: u32, rid: u32): i32 {
  dec.kind = EntryKind.Multiple;
  dec.curIid = iid;
  dec.curRid = rid;
  dec.multEnd = dec.pos;
  dec.pos = dec.valPtr;
  dec.path.set(dec.base.oid, iid, rid, 0xffff);
  return 1;
}

/** Integer / Time (two's complement) or Unsigned Integer: 1, 2, 4 or 8 bytes. */
export function tlvInteger(dec: LwDecoderCore, unsigned: bool): i64 {
  const p = dec.valPtr;
  const n = dec.valLen;
  if (n == 1) return unsigned ? <i64>load<u8>(p) : <i64>load<i8>(p);
  if (n == 2) return unsigned ? <i64>loadBe16(p) : <i64><i16>loadBe16(p);
  if (n == 4) return unsigned ? <i64>loadBe32(p) : <i64><i32>loadBe32(p);
  if (n == 8) return <i64>loadBe64(p);
  return dec.bad(FormatError.TypeMismatch);
}

export function tlvFloat(dec: LwDecoderCore): f64 {
  const n = dec.valLen;
  if (n == 4) return <f64>reinterpret<f32>(loadBe32(dec.valPtr));
  if (n == 8) return reinterpret<f64>(loadBe64(dec.valPtr));
  dec.err = FormatError.TypeMismatch;
  return 0;
}

export function tlvBool(dec: LwDecoderCore): bool {
  const c = dec.valLen == 1 ? <u32>load<u8>(dec.valPtr) : 2;
  if (c > 1) dec.err = FormatError.TypeMismatch;
  return c == 1;
}

export function tlvObjlnk(dec: LwDecoderCore): u32 {
  if (dec.valLen != 4) return <u32>dec.bad(FormatError.TypeMismatch);
  return loadBe32(dec.valPtr);
}

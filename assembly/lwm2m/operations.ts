// LwM2M operations on the data model, with the caller's identity and the
// seeds' access rules. OMA-TS-LightweightM2M_Core-V1_1 §6.3 "Device
// Management and Service Enablement Interface" (Read, Discover, Write
// replace / partial update, Write-Attributes, Execute, Create, Delete) and
// §6.1 "Bootstrap Interface" (Bootstrap-Read, -Discover, -Write, -Delete;
// Bootstrap-Finish is bootstrapFinish in bootstrap-config.ts). The CoAP glue
// maps a request (method, Uri-Path -> LwPath, Content-Format, Accept,
// Uri-Query, payload) to lwHandle (or to one lw* function) and sends the
// returned response code with responseLength bytes of `out` in
// responseFormat (and Location-Path /oid/createdInstanceId after a Create).
//
// Callers: Caller.Bootstrap (the Bootstrap-Server), Caller.Factory (factory
// provisioning, local), or an LwM2M Server by its Short Server ID (1..65534).
// Every request is checked completely before anything changes (the write
// engine runs twice: check, then apply), so a refused request changes nothing.
import {
  LwEncoder, LwDecoder, LwPath, LwType, ContentFormat, EntryKind, ID_NONE, formatErrorToCoap, LW_ENCODER_SIZE,
  LW_DECODER_SIZE,
} from "./formats/entry";
import { LinkWriter, LINK_WRITER_SIZE } from "./formats/link";
import {
  ObjectDef, ReadHook, CheckHook, ExecHook, WrittenHook, findObject, objectCount, objectAt, instFind, instNext, instAlloc,
  instFree, instCount, slotIid, resIndex, desc0, resId, resType, resCap, isBytesType, valueAt, valueSlot, clearRes,
  isPresent, setPresent, riCount, riIdAt, newInstanceId, mandatoryMissing, notifyChange, postAction, Action, setViewStaging,
  viewStaging, getBytes, getInt, found, valueLen, RES_R, RES_W, RES_E, RES_MANDATORY, RES_MULTIPLE, RES_SECRET,
  RES_INTERNAL, OBJ_MULTI, OBJ_CONFIG, OBJ_HIDDEN, OBJ_SERVER_CREATE, VER_1_0, SLOT_CAP,
} from "./model";
import { session, sessionBegin, Session } from "./bootstrap-config";
import { attrWrite, attrLinkAttrs, attrRemove, ATTR_BAD } from "./attributes";
import { SECURITY_OID, Sec } from "./objects/security";
import { SERVER_OID, Srv } from "./objects/server";

/** Who is asking. LwM2M Servers are identified by their Short Server ID (>= 1). */
export namespace Caller {
  export const Bootstrap: i32 = -1;
  export const Factory: i32 = -2;
}

/** CoAP request methods (RFC 7252 §12.1.1). */
export namespace Method {
  export const GET: i32 = 1;
  export const POST: i32 = 2;
  export const PUT: i32 = 3;
  export const DELETE: i32 = 4;
}

/** Response codes (RFC 7252 §12.1.2: class << 5 | detail), as the CoAP layer's CoapCode. */
export namespace Code {
  export const CREATED: i32 = 0x41; // 2.01
  export const DELETED: i32 = 0x42; // 2.02
  export const CHANGED: i32 = 0x44; // 2.04
  export const CONTENT: i32 = 0x45; // 2.05
  export const BAD_REQUEST: i32 = 0x80; // 4.00
  export const UNAUTHORIZED: i32 = 0x81; // 4.01
  export const NOT_FOUND: i32 = 0x84; // 4.04
  export const METHOD_NOT_ALLOWED: i32 = 0x85; // 4.05
  export const NOT_ACCEPTABLE: i32 = 0x86; // 4.06
  export const REQUEST_ENTITY_TOO_LARGE: i32 = 0x8d; // 4.13
  export const UNSUPPORTED_CONTENT_FORMAT: i32 = 0x8f; // 4.15
  export const INTERNAL_SERVER_ERROR: i32 = 0xa0; // 5.00
}

/** No Content-Format / Accept option. */
export const NO_FORMAT: i32 = -1;

/** Payload length in `out` of the last response, its Content-Format (-1 none), the id of a created instance. */
export let responseLength: i32 = 0;
export let responseFormat: i32 = -1;
export let createdInstanceId: i32 = -1;

/** Format for Read of an Object / Object Instance / Multiple Resource without Accept (set from registration). */
export let preferredFormat: u32 = ContentFormat.TLV;
export function setPreferredFormat(f: u32): void { preferredFormat = f; }

const ENC = memory.data(LW_ENCODER_SIZE, 8);
const DEC = memory.data(LW_DECODER_SIZE, 8);
const LINK = memory.data(LINK_WRITER_SIZE, 8);
const TMP_PATH = memory.data(8, 8);
const SCR = memory.data(SLOT_CAP, 8); // the instance being written (wiped after use: it may hold keys)
const SEEN = memory.data(32, 2);

function tmpPath(oid: u32, iid: u32, rid: u32, riid: u32): LwPath {
  const p = changetype<LwPath>(TMP_PATH);
  p.set(oid, iid, rid, riid);
  return p;
}

/** Opens the staging copy for the bootstrap / factory identities and selects the view (BS-5). */
function enter(caller: i32, write: bool): void {
  responseLength = 0;
  responseFormat = -1;
  if (caller == Caller.Bootstrap) sessionBegin(Session.Bootstrap);
  else if (caller == Caller.Factory && write) sessionBegin(Session.Factory);
  setViewStaging(caller < 0 && session != Session.None);
}

/** The path is "/" or inside a configuration Object (factory writes there go to the staging copy). */
function touchesConfig(p: LwPath): bool {
  if (p.level() == 0) return true;
  const o = findObject(p.oid);
  return o != null && (o.flags & OBJ_CONFIG) != 0;
}

function leave(code: i32): i32 {
  setViewStaging(false);
  return code;
}

/**
 * SEC-2 — the Security Object "MUST NOT be accessible by any other LwM2M
 * Server" (Appendix E.1) and is left out of Register (§6.2.1): for an LwM2M
 * Server it does not exist, so every operation on /0 is answered 4.04 Not
 * Found (chosen over 4.01, which would reveal that the Object is there)
 * before anything is read or changed.
 */
function visibleObject(caller: i32, oid: u32): ObjectDef | null {
  const o = findObject(oid);
  if (!o || (caller >= 0 && (o.flags & OBJ_HIDDEN))) return null;
  return o;
}

/** Checks that the target path exists: 0, or 4.04 / 4.05 (executable, secret or internal Resource for Read). */
function targetCheck(o: ObjectDef, p: LwPath, forRead: bool): i32 {
  const lvl = p.level();
  if (lvl < 2) return 0;
  const s = instFind(o, p.iid);
  if (!s) return Code.NOT_FOUND;
  if (lvl < 3) return 0;
  const idx = resIndex(o, p.rid);
  if (idx < 0) return Code.NOT_FOUND;
  const d0 = desc0(o, idx);
  if (d0 & RES_INTERNAL) return Code.NOT_FOUND;
  if (forRead) {
    // SEC-3: the Secret Key is never readable, whoever asks (E.1 gives no operation on it)
    if ((d0 & (RES_SECRET | RES_E)) || !(d0 & RES_R)) return Code.METHOD_NOT_ALLOWED;
    if (!isPresent(s, idx)) return Code.NOT_FOUND;
  }
  if (lvl == 4) {
    if (!(d0 & RES_MULTIPLE)) return Code.NOT_FOUND;
    if (forRead && !valueAt(o, s, idx, p.riid)) return Code.NOT_FOUND;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Read / Bootstrap-Read

/**
 * Read (§6.3 "Read") of an Object, Object Instance, Resource or Resource
 * Instance; Bootstrap-Read (§6.1: "restricted to the LwM2M Server Object and
 * the Access Control Object", else 4.01). `accept` = Accept option or
 * NO_FORMAT (text/plain or opaque for one value, preferredFormat otherwise).
 * 2.05 + payload, 4.04, 4.05, 4.06 (Accept not producible), 5.00 (out too small).
 */
export function lwRead(caller: i32, p: LwPath, accept: i32, out: usize, cap: i32): i32 {
  enter(caller, false);
  return leave(read(caller, p, accept, out, cap));
}

function read(caller: i32, p: LwPath, accept: i32, out: usize, cap: i32): i32 {
  const lvl = p.level();
  if (lvl == 0) return Code.METHOD_NOT_ALLOWED;
  const o = visibleObject(caller, p.oid);
  if (!o) return Code.NOT_FOUND;
  if (caller == Caller.Bootstrap && p.oid != 1 && p.oid != 2) return Code.UNAUTHORIZED;
  if (lvl >= 3 && o.readHook && instFind(o, p.iid)) changetype<ReadHook>(o.readHook)(<u32>p.iid, <u32>p.rid);
  const c = targetCheck(o, p, true);
  if (c) return c;
  let fmt: u32 = <u32>accept;
  if (accept < 0) {
    fmt = preferredFormat;
    if (lvl == 4 || (lvl == 3 && !(desc0(o, resIndex(o, p.rid)) & RES_MULTIPLE))) {
      fmt = resType(o, resIndex(o, p.rid)) == LwType.Opaque ? ContentFormat.OPAQUE : ContentFormat.TEXT;
    }
  }
  const enc = changetype<LwEncoder>(ENC);
  enc.init(fmt, out, cap);
  enc.begin(p);
  encodeTree(enc, o, p);
  const n = enc.finish();
  if (n < 0) return <i32>formatErrorToCoap(n, false);
  responseLength = n;
  responseFormat = <i32>fmt;
  return Code.CONTENT;
}

/** Encodes everything readable at or below p (instances in id order; secret, internal, executable skipped). */
function encodeTree(enc: LwEncoder, o: ObjectDef, p: LwPath): void {
  const lvl = p.level();
  const oid = <u32>o.oid;
  for (let s = lvl == 1 ? instNext(o, -1) : instFind(o, p.iid); s; s = lvl == 1 ? instNext(o, <i32>slotIid(s)) : 0) {
    const iid = slotIid(s);
    if (lvl == 1) enc.beginInstance(tmpPath(oid, iid, ID_NONE, ID_NONE));
    for (let idx = 0; idx < <i32>o.nRes; idx++) {
      const rid = resId(o, idx);
      if (lvl >= 3 && rid != <u32>p.rid) continue;
      const d0 = desc0(o, idx);
      if (!(d0 & RES_R) || (d0 & (RES_SECRET | RES_INTERNAL | RES_E))) continue;
      if (o.readHook) changetype<ReadHook>(o.readHook)(iid, rid);
      if (!isPresent(s, idx)) continue;
      if (!(d0 & RES_MULTIPLE)) {
        encodeValue(enc, tmpPath(oid, iid, rid, ID_NONE), resType(o, idx), valueAt(o, s, idx, ID_NONE));
        continue;
      }
      if (lvl == 4) {
        encodeValue(enc, tmpPath(oid, iid, rid, p.riid), resType(o, idx), valueAt(o, s, idx, p.riid));
        continue;
      }
      enc.beginMultiple(tmpPath(oid, iid, rid, ID_NONE));
      const n = riCount(o, s, idx);
      for (let k = 0; k < n; k++) {
        const ri = riIdAt(o, s, idx, k);
        encodeValue(enc, tmpPath(oid, iid, rid, ri), resType(o, idx), valueAt(o, s, idx, ri));
      }
      enc.endMultiple();
    }
    if (lvl == 1) enc.endInstance();
  }
}

function encodeValue(enc: LwEncoder, p: LwPath, t: i32, v: usize): void {
  if (isBytesType(t)) {
    const n = <i32>load<u16>(v);
    if (t == LwType.Opaque) enc.writeOpaque(p, v + 2, n);
    else if (t == LwType.Corelnk) enc.writeCorelnk(p, v + 2, n);
    else enc.writeString(p, v + 2, n);
    return;
  }
  const x = load<i64>(v);
  if (t == LwType.UnsignedInteger) enc.writeUint(p, <u64>x);
  else if (t == LwType.Float) enc.writeFloat(p, reinterpret<f64>(x));
  else if (t == LwType.Boolean) enc.writeBool(p, x != 0);
  else if (t == LwType.Time) enc.writeTime(p, x);
  else if (t == LwType.Objlnk) enc.writeObjlnk(p, <u32>(x >> 16) & 0xffff, <u32>x & 0xffff);
  else enc.writeInt(p, x);
}

// ---------------------------------------------------------------------------
// Discover / Bootstrap-Discover (application/link-format)

const VER = memory.data(4);

function putVersion(w: LinkWriter, o: ObjectDef): void {
  const v = <u32>o.version;
  if (v == VER_1_0) return;
  store<u8>(VER, <u8>(0x30 + (v >> 8)));
  store<u8>(VER + 1, 0x2e);
  store<u8>(VER + 2, <u8>(0x30 + (v & 0xff)));
  w.attrToken(<u64>0x726576 /* ver */, VER, 3);
}

/**
 * Discover (§6.3 "Discover"): for an Object its link (with ver), its
 * instances and their Resources; for an instance its Resources; for a
 * Resource itself and its Resource Instances. Multiple Resources carry dim
 * (1.1), every link the caller's attributes set at that level.
 * Bootstrap-Discover (§6.1) for Caller.Bootstrap. 2.05 link-format, 4.04.
 */
export function lwDiscover(caller: i32, p: LwPath, out: usize, cap: i32): i32 {
  enter(caller, false);
  return leave(caller == Caller.Bootstrap ? bootstrapDiscover(p, out, cap) : discover(caller, p, out, cap));
}

function discover(caller: i32, p: LwPath, out: usize, cap: i32): i32 {
  const lvl = p.level();
  if (lvl == 0 || lvl == 4) return Code.METHOD_NOT_ALLOWED;
  const o = visibleObject(caller, p.oid);
  if (!o) return Code.NOT_FOUND;
  const c = targetCheck(o, p, false);
  if (c) return c;
  const ssid = caller > 0 ? <u32>caller : 0;
  const w = changetype<LinkWriter>(LINK);
  w.init(out, cap);
  const oid = <u32>o.oid;
  if (lvl == 1) {
    w.link(tmpPath(oid, ID_NONE, ID_NONE, ID_NONE));
    putVersion(w, o);
    attrLinkAttrs(w, ssid, tmpPath(oid, ID_NONE, ID_NONE, ID_NONE));
  }
  for (let s = lvl == 1 ? instNext(o, -1) : instFind(o, p.iid); s; s = lvl == 1 ? instNext(o, <i32>slotIid(s)) : 0) {
    const iid = slotIid(s);
    if (lvl <= 2) {
      w.link(tmpPath(oid, iid, ID_NONE, ID_NONE));
      attrLinkAttrs(w, ssid, tmpPath(oid, iid, ID_NONE, ID_NONE));
    }
    for (let idx = 0; idx < <i32>o.nRes; idx++) {
      const rid = resId(o, idx);
      const d0 = desc0(o, idx);
      if ((lvl == 3 && rid != <u32>p.rid) || (d0 & RES_INTERNAL)) continue;
      if (!(d0 & RES_E) && !isPresent(s, idx)) continue;
      w.link(tmpPath(oid, iid, rid, ID_NONE));
      if (d0 & RES_MULTIPLE) w.attrUint(<u64>0x6d6964 /* dim */, <u64>riCount(o, s, idx));
      attrLinkAttrs(w, ssid, tmpPath(oid, iid, rid, ID_NONE));
      if (lvl == 3 && (d0 & RES_MULTIPLE)) {
        const n = riCount(o, s, idx);
        for (let k = 0; k < n; k++) {
          const ri = riIdAt(o, s, idx, k);
          w.link(tmpPath(oid, iid, rid, ri));
          attrLinkAttrs(w, ssid, tmpPath(oid, iid, rid, ri));
        }
      }
    }
  }
  return linkDone(w);
}

function linkDone(w: LinkWriter): i32 {
  const n = w.finish();
  if (n < 0) return Code.INTERNAL_SERVER_ERROR;
  responseLength = n;
  responseFormat = <i32>ContentFormat.LINK;
  return Code.CONTENT;
}

/**
 * Bootstrap-Discover (§6.1): `</>;lwm2m=1.1` then every Object (or the one
 * requested) with its instances; Security instances carry ssid (LwM2M Server
 * accounts) and uri, Server instances ssid. Resources are not listed, so the
 * Secret Key is never mentioned by value (SEC-3).
 */
function bootstrapDiscover(p: LwPath, out: usize, cap: i32): i32 {
  const lvl = p.level();
  if (lvl > 1) return Code.BAD_REQUEST;
  if (lvl == 1 && !findObject(p.oid)) return Code.NOT_FOUND;
  const w = changetype<LinkWriter>(LINK);
  w.init(out, cap);
  if (lvl == 0) {
    store<u8>(VER, 0x2f);
    w.linkText(VER, 1);
    store<u32>(VER, 0x312e31); // "1.1"
    w.attrToken(<u64>0x6d326d776c /* lwm2m */, VER, 3);
  }
  objectLinks(w, true, lvl == 1 ? <u32>p.oid : ID_NONE);
  return linkDone(w);
}

/**
 * The Objects and Object Instances for the Register / Update payload
 * (§6.2.1): `</1>;ver=1.1,</1/0>,</3/0>`; Objects without instances as
 * `</oid>`. SEC-2: Object 0 (and every OBJ_HIDDEN Object) is never listed.
 * Appends to a LinkWriter the registration code set up (it may have written
 * `</>;rt="oma.lwm2m";ct=...` first). Returns the writer's error state.
 */
export function registerObjectLinks(w: LinkWriter): i32 {
  setViewStaging(false);
  objectLinks(w, false, ID_NONE);
  return w.err;
}

/**
 * `</oid>` (with ver; only for an Object without instances or not version
 * 1.0) and `</oid/iid>` links of every Object (or only `oid`). Register:
 * OBJ_HIDDEN Objects left out (SEC-2). Bootstrap-Discover (`bs`): every
 * Object; Security instances carry ssid (LwM2M Server accounts) and uri,
 * Server instances ssid.
 */
function objectLinks(w: LinkWriter, bs: bool, only: u32): void {
  for (let i = 0; i < objectCount(); i++) {
    const o = objectAt(i);
    const oid = <u32>o.oid;
    if (bs ? only != ID_NONE && oid != only : (o.flags & OBJ_HIDDEN) != 0) continue;
    if (instCount(o) == 0 || o.version != <u16>VER_1_0) {
      w.link(tmpPath(oid, ID_NONE, ID_NONE, ID_NONE));
      putVersion(w, o);
    }
    for (let s = instNext(o, -1); s; s = instNext(o, <i32>slotIid(s))) {
      const iid = slotIid(s);
      w.link(tmpPath(oid, iid, ID_NONE, ID_NONE));
      if (!bs) continue;
      if (oid == SECURITY_OID) {
        if (getInt(SECURITY_OID, iid, Sec.BootstrapServer) == 0) {
          const ssid = getInt(SECURITY_OID, iid, Sec.ShortServerId);
          if (found) w.attrUint(<u64>0x64697373 /* ssid */, <u64>ssid);
        }
        const u = getBytes(SECURITY_OID, iid, Sec.Uri);
        if (found) w.attrQuoted(<u64>0x697275 /* uri */, u, valueLen);
      } else if (oid == SERVER_OID) {
        const ssid = getInt(SERVER_OID, iid, Srv.ShortServerId);
        if (found) w.attrUint(<u64>0x64697373 /* ssid */, <u64>ssid);
      }
    }
  }
}

/** registerObjectLinks into out: the payload length, or a negative FormatError (out too small). */
export function registerPayload(out: usize, cap: i32): i32 {
  const w = changetype<LinkWriter>(LINK);
  w.init(out, cap);
  registerObjectLinks(w);
  return w.finish();
}

// ---------------------------------------------------------------------------
// Write engine: Write (replace / partial update), Bootstrap-Write, Create

const WM_REPLACE_INSTANCE: i32 = 1; // PUT /o/i: optional writable Resources not in the payload are removed
const WM_REPLACE_RES: i32 = 2; // PUT /o/i/r (a Multiple Resource is replaced) or /o/i/r/ri
const WM_PARTIAL: i32 = 3; // POST /o/i or /o/i/r: add / update, nothing removed
const WM_BOOTSTRAP: i32 = 4; // Bootstrap-Write / factory: instances created, unknown Resources ignored
const WM_CREATE: i32 = 5; // POST /o: one new instance

let wObj: usize = 0;
let wCaller: i32 = 0;
let wMode: i32 = 0;
let wLevel: i32 = 0;
let wCommit: bool = false;
let wIid: i32 = -1;
let wReal: usize = 0;
let wNew: i32 = 0;
let wCleared: u32 = 0;
let wTouched: u32 = 0;
let nSeen: i32 = 0;
let wCreateIid: u32 = ID_NONE;

function wo(): ObjectDef { return changetype<ObjectDef>(wObj); }

/** Flushes the scratch instance (commit pass: into the pool) and wipes it. */
function flush(): i32 {
  if (wIid < 0) return 0;
  const o = wo();
  const iid = <u32>wIid;
  wIid = -1;
  let code = 0;
  if (wMode == WM_CREATE && mandatoryMissing(o, SCR, true)) code = Code.BAD_REQUEST;
  else if (wCommit) {
    let dst = wReal;
    const created = !dst;
    if (created) dst = instAlloc(o, iid);
    if (!dst) code = Code.INTERNAL_SERVER_ERROR; // not reached: the check pass counted the pool
    else {
      memory.copy(dst, SCR, o.instSize);
      if (created) notifyChange(<u32>o.oid, iid, ID_NONE);
      const changed = wTouched | wCleared;
      for (let idx = 0; idx < <i32>o.nRes; idx++) {
        if (!((changed >> <u32>idx) & 1)) continue;
        if (o.writtenHook && !viewStaging) changetype<WrittenHook>(o.writtenHook)(iid, resId(o, idx));
        notifyChange(<u32>o.oid, iid, resId(o, idx));
      }
    }
  }
  memory.fill(SCR, 0, o.instSize);
  return code;
}

/** Makes iid the instance being written (loaded into the scratch slot). */
function switchInstance(iid: u32): i32 {
  if (<i32>iid == wIid) return 0;
  const c = flush();
  if (c) return c;
  // each instance's entries must be contiguous (the two passes then see the same states)
  for (let i = 0; i < nSeen; i++) if (<u32>load<u16>(SEEN + (<usize>i << 1)) == iid) return Code.BAD_REQUEST;
  if (nSeen == 16 || iid >= ID_NONE) return Code.BAD_REQUEST;
  store<u16>(SEEN + (<usize>(nSeen++) << 1), <u16>iid);
  const o = wo();
  const real = instFind(o, iid);
  if (wMode == WM_CREATE && (real || nSeen > 1)) return Code.BAD_REQUEST; // Create makes exactly one new instance
  if (real) memory.copy(SCR, real, o.instSize);
  else {
    if (wMode != WM_BOOTSTRAP && wMode != WM_CREATE) return Code.NOT_FOUND;
    if (!wCommit && instCount(o) + wNew >= <i32>o.maxInst) return Code.INTERNAL_SERVER_ERROR; // pool full
    wNew++;
    memory.fill(SCR, 0, o.instSize);
    store<u16>(SCR, <u16>iid);
    store<u8>(SCR + 2, 1);
  }
  wReal = real;
  wIid = <i32>iid;
  wCleared = 0;
  wTouched = 0;
  if (wMode == WM_REPLACE_INSTANCE) {
    // §6.3 Write "Replace": the instance gets the new values; optional writable Resources not given are removed
    for (let idx = 0; idx < <i32>o.nRes; idx++) {
      const d0 = desc0(o, idx);
      if ((d0 & RES_W) && !(d0 & (RES_MANDATORY | RES_INTERNAL | RES_E)) && isPresent(SCR, idx)) {
        clearRes(o, SCR, idx);
        wCleared |= <u32>1 << <u32>idx;
      }
    }
  }
  return 0;
}

/** A Multiple Resource touched by a replacing write starts empty (once per request). */
function replaceMultiple(idx: i32): void {
  if (wMode == WM_PARTIAL || (wMode == WM_REPLACE_RES && wLevel == 4)) return;
  const bit = <u32>1 << <u32>idx;
  if (wCleared & bit) return;
  clearRes(wo(), SCR, idx);
  setPresent(SCR, idx, true);
  wCleared |= bit;
}

function putValue(dec: LwDecoder, idx: i32, riid: u32): i32 {
  const o = wo();
  const t = resType(o, idx);
  const cap = resCap(o, idx);
  let iv: i64 = 0;
  let ptr: usize = 0;
  let n: i32 = 0;
  if (t == LwType.Integer || t == LwType.Time) iv = dec.asInt();
  else if (t == LwType.UnsignedInteger) iv = <i64>dec.asUint();
  else if (t == LwType.Float) iv = reinterpret<i64>(dec.asFloat());
  else if (t == LwType.Boolean) iv = dec.asBool() ? 1 : 0;
  else if (t == LwType.Objlnk) iv = <i64>dec.asObjlnk();
  else if (t == LwType.Opaque) { n = dec.asOpaque(); ptr = dec.strPtr; }
  else { n = dec.asString(); ptr = dec.strPtr; }
  if (dec.err) return <i32>formatErrorToCoap(dec.err, true);
  const bytes = isBytesType(t);
  if (bytes && n > cap) return Code.REQUEST_ENTITY_TOO_LARGE;
  if (o.checkHook && !changetype<CheckHook>(o.checkHook)(resId(o, idx), iv, ptr, n)) return Code.BAD_REQUEST;
  const v = valueSlot(o, SCR, idx, riid);
  if (!v) return Code.REQUEST_ENTITY_TOO_LARGE; // more Resource Instances than the Resource holds
  if (bytes) {
    memory.fill(v, 0, 2 + cap);
    store<u16>(v, <u16>n);
    memory.copy(v + 2, ptr, n);
  } else store<i64>(v, iv);
  wTouched |= <u32>1 << <u32>idx;
  return 0;
}

/** One pass over the payload: check (commit false) or apply (commit true). 0 or a response code. */
function writePass(dec: LwDecoder, commit: bool): i32 {
  wCommit = commit;
  wIid = -1;
  wNew = 0;
  nSeen = 0;
  const o = wo();
  let r: i32;
  while ((r = dec.next()) > 0) {
    const path = dec.path;
    const kind = dec.kind;
    if (kind == EntryKind.NoValue) return Code.BAD_REQUEST;
    const iid = path.iid == <u16>ID_NONE ? wCreateIid : <u32>path.iid;
    if (iid == ID_NONE) return Code.BAD_REQUEST;
    let c = switchInstance(iid);
    if (c) return c;
    if (kind == EntryKind.Instance) continue;
    const idx = resIndex(o, path.rid);
    if (idx < 0 || (desc0(o, idx) & RES_INTERNAL)) {
      if (wMode == WM_BOOTSTRAP) continue; // §6.1 Bootstrap-Write: Resources this client lacks (e.g. SMS 6-9) are ignored
      return Code.NOT_FOUND;
    }
    const d0 = desc0(o, idx);
    if ((d0 & RES_E) || resType(o, idx) == LwType.None) return Code.METHOD_NOT_ALLOWED;
    if (wCaller >= 0 && !(d0 & RES_W)) return Code.METHOD_NOT_ALLOWED;
    const multi = (d0 & RES_MULTIPLE) != 0;
    if (kind == EntryKind.Multiple) {
      if (!multi) return Code.BAD_REQUEST;
      replaceMultiple(idx);
      setPresent(SCR, idx, true);
      wTouched |= <u32>1 << <u32>idx;
      continue;
    }
    if (multi != (path.riid != <u16>ID_NONE)) return Code.BAD_REQUEST;
    if (multi) replaceMultiple(idx);
    c = putValue(dec, idx, <u32>path.riid);
    if (c) return c;
  }
  if (r < 0) return <i32>formatErrorToCoap(r, true);
  if (wMode == WM_CREATE && wIid < 0 && nSeen == 0) {
    const c = switchInstance(wCreateIid); // Create with an empty payload
    if (c) return c;
  }
  return flush();
}

function writeRun(caller: i32, o: ObjectDef, p: LwPath, mode: i32, format: i32, payload: usize, len: i32, scratch: usize, scap: i32): i32 {
  const dec = changetype<LwDecoder>(DEC);
  dec.rawNames = false;
  const e = dec.init(<u32>format, payload, len, p, scratch, scap); // NO_FORMAT -> Unsupported -> 4.15
  if (e) return <i32>formatErrorToCoap(e, true);
  wObj = changetype<usize>(o);
  wCaller = caller;
  wMode = mode;
  wLevel = p.level();
  let c = writePass(dec, false);
  if (!c) {
    dec.reset();
    c = writePass(dec, true);
  } else {
    wIid = -1;
    memory.fill(SCR, 0, o.instSize);
  }
  if (caller < 0 && scap > 0) memory.fill(scratch, 0, scap); // decoded keys (base64, escapes) do not linger
  if (!c && (o.flags & OBJ_CONFIG) && !viewStaging) postAction(Action.ConfigChanged, 0);
  return c;
}

/**
 * Write (§6.3 "Write"): PUT = replace (`partial` false) on /o/i, /o/i/r,
 * /o/i/r/ri; POST = partial update (`partial` true) on /o/i, /o/i/r. For
 * Caller.Bootstrap / Caller.Factory: Bootstrap-Write (§6.1) on /o, /o/i,
 * /o/i/r into the staging copy, instances created as needed (BS-5). `scratch`
 * (e.g. the response buffer) receives decoded strings. 2.04, 4.00, 4.04,
 * 4.05, 4.13 (value larger than its storage), 4.15, 5.00 (pool full).
 */
export function lwWrite(caller: i32, p: LwPath, partial: bool, format: i32, payload: usize, len: i32, scratch: usize, scap: i32): i32 {
  enter(caller, touchesConfig(p));
  return leave(write(caller, p, partial, format, payload, len, scratch, scap));
}

function write(caller: i32, p: LwPath, partial: bool, format: i32, payload: usize, len: i32, scratch: usize, scap: i32): i32 {
  const lvl = p.level();
  if (lvl == 0) return caller < 0 ? Code.BAD_REQUEST : Code.METHOD_NOT_ALLOWED;
  const o = visibleObject(caller, p.oid);
  if (!o) return Code.NOT_FOUND;
  let mode: i32;
  if (caller < 0) {
    // SEC-2 / BS-5: configuration Objects change only through the staging copy; the Bootstrap-Server
    // writes nothing else (factory provisioning may fill e.g. the Device Object directly)
    if (caller == Caller.Bootstrap && !(o.flags & OBJ_CONFIG)) return Code.METHOD_NOT_ALLOWED;
    mode = WM_BOOTSTRAP;
  } else {
    if (lvl == 1 || (partial && lvl == 4)) return Code.METHOD_NOT_ALLOWED;
    const c = targetCheck(o, p, false);
    if (c) return c;
    if (lvl >= 3) {
      const d0 = desc0(o, resIndex(o, p.rid));
      if (!(d0 & RES_W) || (d0 & RES_E)) return Code.METHOD_NOT_ALLOWED;
    }
    mode = partial ? WM_PARTIAL : lvl == 2 ? WM_REPLACE_INSTANCE : WM_REPLACE_RES;
  }
  wCreateIid = ID_NONE;
  const c = writeRun(caller, o, p, mode, format, payload, len, scratch, scap);
  return c ? c : Code.CHANGED;
}

/**
 * Create (§6.3 "Create") on /o: one new instance, its id from the payload
 * (TLV Object Instance, SenML name) or the lowest free one; mandatory
 * Resources must be given. Only Objects marked OBJ_SERVER_CREATE (Security,
 * Server and Device are not). 2.01 + createdInstanceId, 4.00 (exists, several
 * instances, mandatory missing), 4.04, 4.05, 4.15, 5.00 (pool full; nothing created).
 */
export function lwCreate(caller: i32, p: LwPath, format: i32, payload: usize, len: i32, scratch: usize, scap: i32): i32 {
  enter(caller, false);
  createdInstanceId = -1;
  if (caller < 0) return leave(Code.METHOD_NOT_ALLOWED); // not a bootstrap operation (Bootstrap-Write creates)
  if (p.level() != 1) return leave(Code.METHOD_NOT_ALLOWED);
  const o = visibleObject(caller, p.oid);
  if (!o) return leave(Code.NOT_FOUND);
  if (!(o.flags & OBJ_MULTI) || !(o.flags & OBJ_SERVER_CREATE)) return leave(Code.METHOD_NOT_ALLOWED);
  const n = newInstanceId(o);
  if (n < 0) return leave(Code.INTERNAL_SERVER_ERROR);
  // the instance id the payload names (first entry), else the lowest free one
  const dec = changetype<LwDecoder>(DEC);
  dec.rawNames = false;
  let iid = <u32>n;
  if (format >= 0 && !dec.init(<u32>format, payload, len, p, scratch, scap) && dec.next() > 0 && dec.path.iid != <u16>ID_NONE) {
    iid = <u32>dec.path.iid;
  }
  wCreateIid = iid;
  const c = writeRun(caller, o, p, WM_CREATE, format, payload, len, scratch, scap);
  if (c) return leave(c);
  createdInstanceId = <i32>iid;
  return leave(Code.CREATED);
}

// ---------------------------------------------------------------------------
// Delete / Bootstrap-Delete

/**
 * Delete (§6.3 "Delete") of /o/i by an LwM2M Server (OBJ_SERVER_CREATE
 * Objects only); Bootstrap-Delete (§6.1) of "/", /o or /o/i for the
 * Bootstrap-Server, in the staging copy, never the Bootstrap-Server account
 * (4.00) nor non-configuration Objects (the Device instance stays). Factory
 * provisioning may delete anything. 2.02, 4.00, 4.04, 4.05.
 */
export function lwDelete(caller: i32, p: LwPath): i32 {
  enter(caller, touchesConfig(p));
  return leave(caller < 0 ? bootstrapDelete(caller, p) : deleteInstance(caller, p));
}

function deleteInstance(caller: i32, p: LwPath): i32 {
  const lvl = p.level();
  if (lvl == 0) return Code.METHOD_NOT_ALLOWED;
  const o = visibleObject(caller, p.oid);
  if (!o) return Code.NOT_FOUND;
  if (lvl != 2 || !(o.flags & OBJ_SERVER_CREATE)) return Code.METHOD_NOT_ALLOWED;
  const s = instFind(o, p.iid);
  if (!s) return Code.NOT_FOUND;
  instFree(o, s);
  attrRemove(0, p);
  notifyChange(<u32>o.oid, <u32>p.iid, ID_NONE);
  if (o.flags & OBJ_CONFIG) postAction(Action.ConfigChanged, 0);
  return Code.DELETED;
}

function isBsAccount(o: ObjectDef, iid: u32): bool {
  return <u32>o.oid == SECURITY_OID && getInt(SECURITY_OID, iid, Sec.BootstrapServer) != 0;
}

function bootstrapDelete(caller: i32, p: LwPath): i32 {
  const lvl = p.level();
  if (lvl > 2) return Code.BAD_REQUEST;
  const factory = caller == Caller.Factory;
  if (lvl >= 1) {
    const o = findObject(p.oid);
    if (!o) return Code.NOT_FOUND;
    if (!factory && !(o.flags & OBJ_CONFIG)) return Code.METHOD_NOT_ALLOWED;
    if (lvl == 2) {
      const s = instFind(o, p.iid);
      if (!s) return Code.DELETED;
      if (!factory && isBsAccount(o, p.iid)) return Code.BAD_REQUEST; // the Bootstrap-Server account stays
      dropInstance(o, s);
      return Code.DELETED;
    }
  }
  for (let i = 0; i < objectCount(); i++) {
    const o = objectAt(i);
    if (lvl == 1 && o.oid != p.oid) continue;
    if (!(o.flags & OBJ_CONFIG) && !(factory && lvl == 1)) continue;
    for (let s = instNext(o, -1); s; ) {
      const iid = slotIid(s);
      const next = instNext(o, <i32>iid);
      if (factory || !isBsAccount(o, iid)) dropInstance(o, s);
      s = next;
    }
  }
  return Code.DELETED;
}

function dropInstance(o: ObjectDef, s: usize): void {
  const iid = slotIid(s);
  instFree(o, s);
  if (!viewStaging) {
    attrRemove(0, tmpPath(<u32>o.oid, iid, ID_NONE, ID_NONE));
    notifyChange(<u32>o.oid, iid, ID_NONE);
  }
}

// ---------------------------------------------------------------------------
// Execute

/** Execute arguments (§6.3 "Execute", arguments ABNF): arg *("," arg); arg = DIGIT ["=" "'" *CHAR "'"]. */
export function executeArgsValid(p: usize, n: i32): bool {
  if (n == 0) return true;
  let i = 0;
  while (true) {
    if (i >= n) return false;
    const d = <u32>load<u8>(p + <usize>i) - 0x30;
    if (d > 9) return false;
    i++;
    if (i < n && load<u8>(p + <usize>i) == 0x3d) { // "='value'"
      if (++i >= n || load<u8>(p + <usize>i) != 0x27) return false;
      i++;
      while (i < n && load<u8>(p + <usize>i) != 0x27) {
        const c = <u32>load<u8>(p + <usize>i);
        // CHAR = %x21 / %x23-26 / %x28-5B / %x5D-7E
        if (c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e) return false;
        i++;
      }
      if (i >= n) return false;
      i++;
    }
    if (i == n) return true;
    if (load<u8>(p + <usize>i) != 0x2c) return false;
    i++;
  }
  return false;
}

/**
 * Execute (§6.3 "Execute") on /o/i/r with an arguments string (text/plain
 * payload). The Object's exec hook answers (2.04 by default); Reboot,
 * Factory Reset, Registration Update / Bootstrap-Request Trigger and Disable
 * post Actions. 4.00 (bad arguments), 4.04, 4.05 (not executable; not a
 * bootstrap operation).
 */
export function lwExecute(caller: i32, p: LwPath, args: usize, len: i32): i32 {
  enter(caller, false);
  if (caller < 0 || p.level() != 3) return leave(Code.METHOD_NOT_ALLOWED);
  const o = visibleObject(caller, p.oid);
  if (!o) return leave(Code.NOT_FOUND);
  const c = targetCheck(o, p, false);
  if (c) return leave(c);
  if (!(desc0(o, resIndex(o, p.rid)) & RES_E)) return leave(Code.METHOD_NOT_ALLOWED);
  if (!executeArgsValid(args, len)) return leave(Code.BAD_REQUEST);
  if (!o.execHook) return leave(Code.CHANGED);
  return leave(changetype<ExecHook>(o.execHook)(<u32>p.iid, <u32>p.rid, args, len));
}

// ---------------------------------------------------------------------------
// Write-Attributes

/**
 * Write-Attributes (§6.3 "Write-Attributes"): the Uri-Query options joined by
 * '&' (pmin, pmax, gt, lt, st, epmin, epmax; a name alone removes it), kept
 * per LwM2M Server. gt / lt / st only on numeric Resources; lt < gt and
 * lt + 2*st < gt (§5.1.2). 2.04, 4.00, 4.04, 4.05 (Bootstrap / factory), 5.00 (table full).
 */
export function lwWriteAttributes(caller: i32, p: LwPath, q: usize, qlen: i32): i32 {
  enter(caller, false);
  if (caller < 0 || p.level() == 0) return leave(Code.METHOD_NOT_ALLOWED);
  const o = visibleObject(caller, p.oid);
  if (!o) return leave(Code.NOT_FOUND);
  let c = targetCheck(o, p, false);
  if (!c && p.level() >= 3) {
    const idx = resIndex(o, p.rid);
    const s = instFind(o, p.iid);
    if (desc0(o, idx) & RES_E) c = Code.METHOD_NOT_ALLOWED;
    else if (!valueAt(o, s, idx, p.level() == 4 ? <u32>p.riid : ID_NONE) && (p.level() == 4 || !isPresent(s, idx))) c = Code.NOT_FOUND;
  }
  if (c) return leave(c);
  let numeric = false;
  if (p.level() >= 3) {
    const t = resType(o, resIndex(o, p.rid));
    numeric = t == LwType.Integer || t == LwType.UnsignedInteger || t == LwType.Float;
  }
  const r = attrWrite(<u32>caller, p, numeric, q, qlen);
  return leave(r == 0 ? Code.CHANGED : r == ATTR_BAD ? Code.BAD_REQUEST : Code.INTERNAL_SERVER_ERROR);
}

// ---------------------------------------------------------------------------
// Dispatcher: CoAP request -> operation (LwM2M 1.1 Transport §6.4 mapping)

/**
 * One request: method (Method.*), path, Content-Format and Accept
 * (NO_FORMAT when absent), the Uri-Query options joined by '&', the payload,
 * and `out` for the response payload (also scratch for decoding). GET with
 * Accept link-format = Discover; PUT with a query = Write-Attributes; POST on
 * /o = Create, on an executable Resource = Execute, else partial update.
 * Bootstrap-Finish (POST /bs) is bootstrapFinish(). Returns the response code.
 */
export function lwHandle(
  caller: i32, method: i32, p: LwPath, format: i32, accept: i32, q: usize, qlen: i32, payload: usize, plen: i32,
  out: usize, cap: i32,
): i32 {
  createdInstanceId = -1;
  responseLength = 0;
  responseFormat = -1;
  if (p.level() > 0 && !visibleObject(caller, p.oid) && findObject(p.oid)) return Code.NOT_FOUND; // SEC-2, whatever the method
  if (method == Method.GET) {
    if (accept == <i32>ContentFormat.LINK) return lwDiscover(caller, p, out, cap);
    return lwRead(caller, p, accept, out, cap);
  }
  if (method == Method.PUT) {
    if (qlen > 0) {
      return plen > 0 ? Code.BAD_REQUEST : lwWriteAttributes(caller, p, q, qlen);
    }
    return lwWrite(caller, p, false, format, payload, plen, out, cap);
  }
  if (method == Method.DELETE) return lwDelete(caller, p);
  if (method == Method.POST) {
    const lvl = p.level();
    if (lvl == 1) return lwCreate(caller, p, format, payload, plen, out, cap);
    if (lvl == 3 && caller >= 0) {
      const o = visibleObject(caller, p.oid);
      if (o) {
        const idx = resIndex(o, p.rid);
        if (idx >= 0 && (desc0(o, idx) & RES_E)) return lwExecute(caller, p, payload, plen);
        // Transport §6.4.3: POST on a Resource is Execute, or a partial update of a
        // Multiple-Instance Resource; on any other Resource the method is not allowed,
        // whatever the Content-Format (4.05 before 4.15)
        if (idx >= 0 && !(desc0(o, idx) & RES_MULTIPLE)) return Code.METHOD_NOT_ALLOWED;
      }
    }
    if (caller < 0) return Code.METHOD_NOT_ALLOWED;
    return lwWrite(caller, p, true, format, payload, plen, out, cap);
  }
  return Code.METHOD_NOT_ALLOWED;
}

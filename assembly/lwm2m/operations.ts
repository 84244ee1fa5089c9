// LwM2M operations on the data model, with the caller's identity and the
// seeds' access rules. OMA-TS-LightweightM2M_Core-V1_1 §6.3 "Device
// Management and Service Enablement Interface" (Read, Discover, Write
// replace / partial update, Write-Attributes, Execute, Create, Delete) and
// §6.1 "Bootstrap Interface" (Bootstrap-Read, -Discover, -Write, -Delete;
// Bootstrap-Finish is bootstrapFinish in bootstrap-config.ts). The CoAP glue
// maps a request (method, Uri-Path -> LwPath, Content-Format, Accept,
// Uri-Query, payload) to lwHandle (or to one lw* function) and sends the
// LwResponse it returns: the response code with `length` bytes of `out` in
// `format` (and Location-Path /oid/createdId after a Create).
//
// Callers: Caller.Bootstrap (the Bootstrap-Server), Caller.Factory (factory
// provisioning, local), or an LwM2M Server by its Short Server ID (1..65534).
// Every request is checked completely before anything changes (the write
// engine runs twice: check, then apply), so a refused request changes nothing.
import {
  LwEncoder, LwPath, LwType, ContentFormat, ID_NONE, formatErrorToCoap, LW_ENCODER_SIZE,
} from "./formats/entry";
import { LinkWriter } from "./formats/link";
import {
  ObjectDef, ReadHook, ExecHook, findObject, objectCount, objectAt, instFind, instNext, instFree, slotIid, resIndex,
  desc0, resId, resType, isBytesType, valueAt, isPresent, riCount, riIdAt, newInstanceId, notifyChange, postAction,
  Action, setViewStaging, viewStaging, getInt, RES_R, RES_W, RES_E, RES_MULTIPLE, RES_SECRET, RES_INTERNAL, OBJ_MULTI,
  OBJ_CONFIG, OBJ_HIDDEN, OBJ_SERVER_CREATE,
} from "./model";
import { session, sessionBegin, Session } from "./bootstrap-config";
import { attrWrite, attrLinkAttrs, attrRemove, ATTR_BAD } from "./attributes";
import { SECURITY_OID, Sec } from "./objects/security";
import { Caller, Method, Code, NO_FORMAT, LwResponse } from "./response";
import { objectLinks, putVersion, tmpPath, linkWriter, LINK_TEXT } from "./object-links";
import {
  writeRun, payloadInstanceId, WM_REPLACE_INSTANCE, WM_REPLACE_RES, WM_PARTIAL, WM_BOOTSTRAP, WM_CREATE,
} from "./write-engine";

export { Caller, Method, Code, NO_FORMAT, LwResponse };

const RESPONSE = memory.data(16, 4); // offsetof<LwResponse>()

/** The one response value every operation fills and returns (no allocation per request). */
function res(): LwResponse { return changetype<LwResponse>(RESPONSE); }

/** Clears the response value: no payload, no Content-Format, nothing created. */
function fresh(): void {
  store<i32>(RESPONSE, 0, offsetof<LwResponse>("length"));
  store<i64>(RESPONSE, -1, offsetof<LwResponse>("format")); // format NO_FORMAT, createdId -1
}

/** Sets the response code: the value an operation returns. */
// @ts-ignore: decorator
@inline function answer(code: i32): LwResponse {
  const r = res();
  r.code = code;
  return r;
}

/** A response code without payload, for a request refused before any operation ran. */
function refuse(code: i32): LwResponse {
  fresh();
  return answer(code);
}

/** Format for Read of an Object / Object Instance / Multiple Resource without Accept (set from registration). */
export let preferredFormat: u32 = ContentFormat.TLV;
export function setPreferredFormat(f: u32): void { preferredFormat = f; }

const ENC = memory.data(LW_ENCODER_SIZE, 8);

/** Opens the staging copy for the bootstrap / factory identities and selects the view (BS-5). */
function enter(caller: i32, write: bool): void {
  fresh();
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

function leave(code: i32): LwResponse {
  setViewStaging(false);
  return answer(code);
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
export function lwRead(caller: i32, p: LwPath, accept: i32, out: usize, cap: i32): LwResponse {
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
  const r = res();
  r.length = n;
  r.format = <i32>fmt;
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

/**
 * Discover (§6.3 "Discover"): for an Object its link (with ver), its
 * instances and their Resources; for an instance its Resources; for a
 * Resource itself and its Resource Instances. Multiple Resources carry dim
 * (1.1), every link the caller's attributes set at that level.
 * Bootstrap-Discover (§6.1) for Caller.Bootstrap. 2.05 link-format, 4.04.
 */
export function lwDiscover(caller: i32, p: LwPath, out: usize, cap: i32): LwResponse {
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
  const w = linkWriter(out, cap);
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
  const r = res();
  r.length = n;
  r.format = <i32>ContentFormat.LINK;
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
  const w = linkWriter(out, cap);
  if (lvl == 0) {
    store<u8>(LINK_TEXT, 0x2f);
    w.linkText(LINK_TEXT, 1);
    store<u32>(LINK_TEXT, 0x312e31); // "1.1"
    w.attrToken(<u64>0x6d326d776c /* lwm2m */, LINK_TEXT, 3);
  }
  objectLinks(w, true, lvl == 1 ? <u32>p.oid : ID_NONE);
  return linkDone(w);
}


/**
 * Write (§6.3 "Write"): PUT = replace (`partial` false) on /o/i, /o/i/r,
 * /o/i/r/ri; POST = partial update (`partial` true) on /o/i, /o/i/r. For
 * Caller.Bootstrap / Caller.Factory: Bootstrap-Write (§6.1) on /o, /o/i,
 * /o/i/r into the staging copy, instances created as needed (BS-5). `scratch`
 * (e.g. the response buffer) receives decoded strings. 2.04, 4.00, 4.04,
 * 4.05, 4.13 (value larger than its storage), 4.15, 5.00 (pool full).
 */
export function lwWrite(caller: i32, p: LwPath, partial: bool, format: i32, payload: usize, len: i32, scratch: usize, scap: i32): LwResponse {
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
  const c = writeRun(caller, o, p, mode, ID_NONE, format, payload, len, scratch, scap);
  return c ? c : Code.CHANGED;
}

/**
 * Create (§6.3 "Create") on /o: one new instance, its id from the payload
 * (TLV Object Instance, SenML name) or the lowest free one; mandatory
 * Resources must be given. Only Objects marked OBJ_SERVER_CREATE (Security,
 * Server and Device are not). 2.01 + createdId, 4.00 (exists, several
 * instances, mandatory missing), 4.04, 4.05, 4.15, 5.00 (pool full; nothing created).
 */
export function lwCreate(caller: i32, p: LwPath, format: i32, payload: usize, len: i32, scratch: usize, scap: i32): LwResponse {
  enter(caller, false);
  if (caller < 0) return leave(Code.METHOD_NOT_ALLOWED); // not a bootstrap operation (Bootstrap-Write creates)
  if (p.level() != 1) return leave(Code.METHOD_NOT_ALLOWED);
  const o = visibleObject(caller, p.oid);
  if (!o) return leave(Code.NOT_FOUND);
  if (!(o.flags & OBJ_MULTI) || !(o.flags & OBJ_SERVER_CREATE)) return leave(Code.METHOD_NOT_ALLOWED);
  const n = newInstanceId(o);
  if (n < 0) return leave(Code.INTERNAL_SERVER_ERROR);
  // the instance id the payload names (first entry), else the lowest free one
  const iid = payloadInstanceId(format, payload, len, p, scratch, scap, <u32>n);
  const c = writeRun(caller, o, p, WM_CREATE, iid, format, payload, len, scratch, scap);
  if (c) return leave(c);
  res().createdId = <i32>iid;
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
export function lwDelete(caller: i32, p: LwPath): LwResponse {
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
export function lwExecute(caller: i32, p: LwPath, args: usize, len: i32): LwResponse {
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
export function lwWriteAttributes(caller: i32, p: LwPath, q: usize, qlen: i32): LwResponse {
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
 * Bootstrap-Finish (POST /bs) is bootstrapFinish(). Returns the response value.
 */
export function lwHandle(
  caller: i32, method: i32, p: LwPath, format: i32, accept: i32, q: usize, qlen: i32, payload: usize, plen: i32,
  out: usize, cap: i32,
): LwResponse {
  if (p.level() > 0 && !visibleObject(caller, p.oid) && findObject(p.oid)) return refuse(Code.NOT_FOUND); // SEC-2, whatever the method
  if (method == Method.GET) {
    if (accept == <i32>ContentFormat.LINK) return lwDiscover(caller, p, out, cap);
    return lwRead(caller, p, accept, out, cap);
  }
  if (method == Method.PUT) {
    if (qlen > 0) {
      return plen > 0 ? refuse(Code.BAD_REQUEST) : lwWriteAttributes(caller, p, q, qlen);
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
        if (idx >= 0 && !(desc0(o, idx) & RES_MULTIPLE)) return refuse(Code.METHOD_NOT_ALLOWED);
      }
    }
    if (caller < 0) return refuse(Code.METHOD_NOT_ALLOWED);
    return lwWrite(caller, p, true, format, payload, plen, out, cap);
  }
  return refuse(Code.METHOD_NOT_ALLOWED);
}

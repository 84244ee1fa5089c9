// The write engine of operations.ts: Write (replace / partial update,
// OMA-TS-LightweightM2M_Core-V1_1 §6.3 "Write"), Bootstrap-Write (§6.1) and
// Create (§6.3 "Create") decode the payload into a scratch copy of one
// instance at a time. It runs twice over the payload: a check pass that
// changes nothing, then the apply pass (so a refused request changes nothing).
//
// Memory (issue 11 §2): a write needs the payload (the request, or the Block1
// upload buffer), the instance being written and room for one decoded string
// (base64, JSON escapes). The last two live in the caller's response buffer
// (`scratch`, REPR in the client): a Write, Bootstrap-Write or Create answers
// with no payload, so that buffer is free while it runs; the instance at its
// head (8-aligned), the decoded string after it. No static slot of its own.
import { LwDecoder, LwPath, LwType, EntryKind, ID_NONE, formatErrorToCoap, LW_DECODER_SIZE } from "./formats/entry";
import {
  ObjectDef, CheckHook, WrittenHook, instFind, instAlloc, instCount, resIndex, desc0, resId, resType, resCap, isBytesType,
  valueSlot, clearRes, isPresent, setPresent, mandatoryMissing, notifyChange, postAction, Action, viewStaging, RES_W, RES_E,
  RES_MANDATORY, RES_MULTIPLE, RES_INTERNAL, OBJ_CONFIG,
} from "./model";
import { Code } from "./response";

const DEC = memory.data(LW_DECODER_SIZE, 8);
/** The instance being written, at the head of the caller's scratch (wiped after use: it may hold keys). */
let SCR: usize = 0;
const SEEN = memory.data(32, 2);

export const WM_REPLACE_INSTANCE: i32 = 1; // PUT /o/i: optional writable Resources not in the payload are removed
export const WM_REPLACE_RES: i32 = 2; // PUT /o/i/r (a Multiple Resource is replaced) or /o/i/r/ri
export const WM_PARTIAL: i32 = 3; // POST /o/i or /o/i/r: add / update, nothing removed
export const WM_BOOTSTRAP: i32 = 4; // Bootstrap-Write / factory: instances created, unknown Resources ignored
export const WM_CREATE: i32 = 5; // POST /o: one new instance

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

/**
 * Runs a write of `mode` on Object o at p: checks the whole payload, then
 * applies it (nothing changes when the check fails). `createIid`: the
 * instance an entry without an instance id goes to (ID_NONE: none). 0 or a
 * response code.
 */
export function writeRun(caller: i32, o: ObjectDef, p: LwPath, mode: i32, createIid: u32, format: i32, payload: usize, len: i32, scratch: usize, scap: i32): i32 {
  const dec = changetype<LwDecoder>(DEC);
  dec.rawNames = false;
  // the instance slot, then the decoded-string room (the scratch must not overlap the payload)
  const slot = (<i32>o.instSize + 7) & ~7;
  if (scap < slot || scratch < payload + <usize>len && payload < scratch + <usize>scap) return Code.INTERNAL_SERVER_ERROR;
  SCR = scratch;
  memory.fill(SCR, 0, o.instSize);
  const e = dec.init(<u32>format, payload, len, p, scratch + <usize>slot, scap - slot); // NO_FORMAT -> Unsupported -> 4.15
  if (e) return <i32>formatErrorToCoap(e, true);
  wObj = changetype<usize>(o);
  wCreateIid = createIid;
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

/** The instance id the payload's first entry names (TLV Object Instance, SenML name), else `dflt`. */
export function payloadInstanceId(format: i32, payload: usize, len: i32, p: LwPath, scratch: usize, scap: i32, dflt: u32): u32 {
  const dec = changetype<LwDecoder>(DEC);
  dec.rawNames = false;
  if (format >= 0 && !dec.init(<u32>format, payload, len, p, scratch, scap) && dec.next() > 0 && dec.path.iid != <u16>ID_NONE) {
    return <u32>dec.path.iid;
  }
  return dflt;
}

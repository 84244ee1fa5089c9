// Test entry for assembly/lwm2m (data model, objects 0/1/3, operations,
// bootstrap configuration, attributes): thin wrappers; paths cross the
// boundary as four ids (65535 = absent). Declares one extra Object (a test
// Object, id 33000) to exercise Create / Delete and every data type, which
// also shows how a new Object is "a table plus handlers".
// The Object arena is fixed here at profiles.json's default (CAP_MODEL_ARENA):
// a smaller profile's arena holds its own Objects only, not the test Object;
// every other capacity and flag of a profile applies (scripts/build.mjs).
// @ts-ignore: decorator
@global const CAP_MODEL_ARENA: i32 = 11392;
export { scratch, scratchSize } from "./_scratch";
import "../host/abi";
import { LwPath } from "../lwm2m/formats/entry";
import {
  defineObject, setObjectHooks, findObject, setChangeListener, takeAction, pendingDeviceAction, getInt, getBytes,
  getNumber, setInt, setText, valueLen, found, arenaBytes, objectCount, setViewStaging,
  RES_R, RES_W, RES_E, RES_MANDATORY, RES_MULTIPLE, T_STRING, T_INT, T_UINT, T_FLOAT, T_BOOL, T_OPAQUE, T_TIME, T_OBJLNK,
  T_CORELNK, OBJ_MULTI, OBJ_SERVER_CREATE, VER_1_0,
} from "../lwm2m/model";
import {
  lwHandle, lwRead, lwWrite, lwCreate, lwDelete, lwDiscover, lwExecute, lwWriteAttributes,
  LwResponse, setPreferredFormat, executeArgsValid,
} from "../lwm2m/operations";
import {
  bootstrapFinish, provisionFinish, bootstrapAccountCleanup, nextCleanupDeadline, configImage, configLoad, configReset,
  setConfigHooks, session, sessionAbort, lastConfigError, bsEntropyHigh, purgePending, validateConfig, uriScheme,
} from "../lwm2m/bootstrap-config";
import { registerPayload } from "../lwm2m/client/registration";
import { attrEffective, attrU32, attrF64, attrCount } from "../lwm2m/attributes";
import { securityDefine, securityFind, securityKeyHandle, securitySecret, securitySecretLen, securityMode } from "../lwm2m/objects/security";
import { serverDefine, serverFind, retryCount, retryTimer, sequenceDelayTimer, sequenceRetryCount } from "../lwm2m/objects/server";
import { deviceDefine, setDeviceClock } from "../lwm2m/objects/device";

const P = memory.data(8, 8);
function path(o: u32, i: u32, r: u32, ri: u32): LwPath {
  const p = changetype<LwPath>(P);
  p.set(o, i, r, ri);
  return p;
}

// ---- a test Object: every data type, a Multiple Resource, an executable, a read-only Resource ----
export const TEST_OID: u32 = 33000;
export const TEST_MAX: i32 = 4;
const TEST_TABLE = memory.data<u32>([
  0 | T_INT | RES_R | RES_W | RES_MANDATORY, 0,
  1 | T_STRING | RES_R | RES_W, 16,
  2 | T_FLOAT | RES_R | RES_W, 0,
  3 | T_BOOL | RES_R | RES_W, 0,
  4 | T_UINT | RES_R | RES_W, 0,
  5 | T_OPAQUE | RES_R | RES_W, 16,
  6 | T_TIME | RES_R | RES_W, 0,
  7 | T_OBJLNK | RES_R | RES_W, 0,
  8 | T_INT | RES_R | RES_W | RES_MULTIPLE, 3 << 16,
  9 | RES_E, 0,
  10 | T_STRING | RES_R, 16,
  11 | T_CORELNK | RES_R | RES_W, 24,
]);
let execCount: i32 = 0;
let lastExecArgsLen: i32 = -1;
function testExec(iid: u32, rid: u32, args: usize, len: i32): i32 {
  execCount++;
  lastExecArgsLen = len;
  return 0x44;
}
function testCheck(rid: u32, iv: i64, ptr: usize, len: i32): bool { return rid != 0 || iv != -999; }

// ---- hooks: a fake SE / store ----
const SE = memory.data(8 * 256, 8); // key copies by handle
const SE_LEN = memory.data(8 * 4, 4);
let seNext: i32 = 0;
let custodyOn = false;
let custodyFailAt: i32 = -1; // fail the n-th custody call
let custodyCalls: i32 = 0;
let releasedMask: i32 = 0;
let persistFail = false;
let persistCalls: i32 = 0;
let abortCalls: i32 = 0;
const IMAGE = memory.data(4096, 8);
let imageLen: i32 = 0;

function testCustody(secIid: u32, mode: i32, key: usize, len: i32): i32 {
  custodyCalls++;
  if (custodyFailAt == custodyCalls) return -5;
  if (!custodyOn) return -1;
  const h = seNext++ & 7;
  memory.copy(SE + <usize>(h * 256), key, min(len, 256));
  store<i32>(SE_LEN + (<usize>h << 2), len);
  return h;
}
function testRelease(h: i32): void { releasedMask |= 1 << (h & 31); }
function testPersist(p: usize, n: i32): i32 {
  persistCalls++;
  if (persistFail) return -6;
  memory.copy(IMAGE, p, min(n, 4096));
  imageLen = n;
  return 0;
}
function testAbort(): void { abortCalls++; }

let changes: i32 = 0;
function onChange(oid: u32, iid: u32, rid: u32): void { changes++; }

let wall: i64 = -1;
function testClock(): i64 { return wall; }

export function init(): i32 {
  if (objectCount()) return 0;
  if (securityDefine() < 0 || serverDefine() < 0 || deviceDefine() < 0) return -1;
  if (defineObject(TEST_OID, VER_1_0, TEST_TABLE, 12, TEST_MAX, OBJ_MULTI | OBJ_SERVER_CREATE) < 0) return -2;
  setObjectHooks(TEST_OID, 0, changetype<usize>(testCheck), changetype<usize>(testExec), 0);
  setConfigHooks(testCustody, testRelease, testPersist, testAbort);
  setChangeListener(onChange);
  setDeviceClock(testClock);
  return 0;
}

export function arena(): i32 { return arenaBytes(); }
export function setCustody(on: i32, failAt: i32): void { custodyOn = on != 0; custodyFailAt = failAt; custodyCalls = 0; }
export function setPersistFail(on: i32): void { persistFail = on != 0; }
export function seKey(h: i32): usize { return SE + <usize>(h * 256); }
export function seKeyLen(h: i32): i32 { return load<i32>(SE_LEN + (<usize>h << 2)); }
export function released(): i32 { return releasedMask; }
export function persistCount(): i32 { return persistCalls; }
export function abortCount(): i32 { return abortCalls; }
export function image(): usize { return IMAGE; }
export function imageLength(): i32 { return imageLen; }
export function changeCount(): i32 { return changes; }
export function execCalls(): i32 { return execCount; }
export function execArgsLen(): i32 { return lastExecArgsLen; }
export function setWall(t: i64): void { wall = t; }

// ---- operations ----
let last: LwResponse = changetype<LwResponse>(memory.data(16, 4)); // the last operation's response value
function got(r: LwResponse): i32 {
  last = r;
  return r.code;
}
export function handle(caller: i32, method: i32, o: u32, i: u32, r: u32, ri: u32, format: i32, accept: i32, q: usize, qlen: i32,
  payload: usize, plen: i32, out: usize, cap: i32): i32 {
  return got(lwHandle(caller, method, path(o, i, r, ri), format, accept, q, qlen, payload, plen, out, cap));
}
export function read(caller: i32, o: u32, i: u32, r: u32, ri: u32, accept: i32, out: usize, cap: i32): i32 {
  return got(lwRead(caller, path(o, i, r, ri), accept, out, cap));
}
export function discover(caller: i32, o: u32, i: u32, r: u32, ri: u32, out: usize, cap: i32): i32 {
  return got(lwDiscover(caller, path(o, i, r, ri), out, cap));
}
export function write(caller: i32, o: u32, i: u32, r: u32, ri: u32, partial: i32, format: i32, payload: usize, len: i32, out: usize, cap: i32): i32 {
  return got(lwWrite(caller, path(o, i, r, ri), partial != 0, format, payload, len, out, cap));
}
export function create(caller: i32, o: u32, format: i32, payload: usize, len: i32, out: usize, cap: i32): i32 {
  return got(lwCreate(caller, path(o, 0xffff, 0xffff, 0xffff), format, payload, len, out, cap));
}
export function del(caller: i32, o: u32, i: u32, r: u32, ri: u32): i32 { return got(lwDelete(caller, path(o, i, r, ri))); }
export function execute(caller: i32, o: u32, i: u32, r: u32, args: usize, len: i32): i32 {
  return got(lwExecute(caller, path(o, i, r, 0xffff), args, len));
}
export function writeAttributes(caller: i32, o: u32, i: u32, r: u32, ri: u32, q: usize, qlen: i32): i32 {
  return got(lwWriteAttributes(caller, path(o, i, r, ri), q, qlen));
}
export function respLen(): i32 { return last.length; }
export function respFormat(): i32 { return last.format; }
export function createdId(): i32 { return last.createdId; }
export function preferFormat(f: u32): void { setPreferredFormat(f); }
export function argsValid(p: usize, n: i32): i32 { return executeArgsValid(p, n) ? 1 : 0; }
export function regPayload(out: usize, cap: i32): i32 { return registerPayload(out, cap); }

// ---- configuration ----
export function bsFinish(now: i64, wallSec: i64, buf: usize, cap: i32): i32 { return bootstrapFinish(now, wallSec, buf, cap); }
export function factoryFinish(now: i64, high: i32, buf: usize, cap: i32): i32 { return provisionFinish(now, high != 0, buf, cap); }
export function cleanup(now: i64): i32 { return bootstrapAccountCleanup(now); }
export function cleanupDeadline(): i64 { return nextCleanupDeadline(); }
export function saveImage(buf: usize, cap: i32): i32 { return configImage(buf, cap); }
export function loadImage(p: usize, n: i32, now: i64): i32 { return configLoad(p, n, now); }
export function resetConfig(): void { configReset(); }
export function abortSession(): void { sessionAbort(); }
export function sessionKind(): i32 { return session; }
export function configError(): i32 { return lastConfigError; }
export function entropyHigh(): i32 { return bsEntropyHigh ? 1 : 0; }
export function purgeIsPending(): i32 { return purgePending ? 1 : 0; }
export function validate(requireServer: i32, staging: i32): i32 {
  setViewStaging(staging != 0);
  const r = validateConfig(requireServer != 0);
  setViewStaging(false);
  return r;
}
export function uriCheck(p: usize, n: i32): i32 { return uriScheme(p, n); }

// ---- model inspection (for "state unchanged" checks) ----
export function poolPtr(oid: u32, staging: i32): usize {
  const o = findObject(oid);
  return !o ? 0 : staging ? o.staging : o.active;
}
export function poolSize(oid: u32): i32 {
  const o = findObject(oid);
  return !o ? 0 : <i32>(o.instSize * o.maxInst);
}
export function valInt(o: u32, i: u32, r: u32, ri: u32): i64 { return getInt(o, i, r, ri); }
export function valFound(): i32 { return found ? 1 : 0; }
export function valBytes(o: u32, i: u32, r: u32, ri: u32): usize { return getBytes(o, i, r, ri); }
export function valLen(): i32 { return valueLen; }
export function valNumber(o: u32, i: u32, r: u32, ri: u32): f64 { return getNumber(o, i, r, ri); }
export function setDeviceInt(r: u32, v: i64): i32 { return setInt(3, 0, r, v) ? 1 : 0; }
export function setDeviceManufacturer(): i32 { return setText(3, 0, 0, "Acme") ? 1 : 0; }
export function action(): i32 { return takeAction(); }
export function deviceAction(): i32 { return pendingDeviceAction(); }
export function attrEff(ssid: u32, o: u32, i: u32, r: u32, ri: u32, id: i32): i32 { return attrEffective(ssid, path(o, i, r, ri), id) ? 1 : 0; }
export function attrInt(): u32 { return attrU32; }
export function attrNum(): f64 { return attrF64; }
export function attrs(): i32 { return attrCount(); }

// ---- glue accessors ----
export function secFind(ssid: u32): i32 { return securityFind(ssid); }
export function secKeyHandle(iid: u32): i32 { return securityKeyHandle(iid); }
export function secSecret(iid: u32): usize { return securitySecret(iid); }
export function secSecretLen(): i32 { return securitySecretLen; }
export function secMode(iid: u32): i32 { return securityMode(iid); }
export function srvFind(ssid: u32): i32 { return serverFind(ssid); }
export function retries(ssid: u32): i64 {
  return retryCount(ssid) | (retryTimer(ssid) << 8) | (sequenceDelayTimer(ssid) << 16) | (sequenceRetryCount(ssid) << 40);
}

// LwM2M Server Object (ID 1), OMA-TS-LightweightM2M_Core-V1_1 Appendix E.2
// (urn:oma:lwm2m:oma:1:1.1): the mandatory Resources 0, 1, 6, 7, 8 (2 and 3
// are optional in 1.1), 4 Disable, 5 Disable Timeout, 9 Bootstrap-Request
// Trigger, 12 Last Bootstrapped and the communication retry Resources 17-20
// (§6.2.1.2 "Registration Procedures" uses them for registration retries).
import { Cap } from "../../profile";
import {
  defineObject, setObjectHooks, findObject, instNext, slotIid, getInt, getBytes, found, valueLen, postAction, Action,
  RES_R, RES_W, RES_E, RES_MANDATORY, T_STRING, T_INT, T_UINT, T_BOOL, T_TIME,
  OBJ_MULTI, OBJ_CONFIG, VER_1_1,
} from "../model";

export const SERVER_OID: u32 = 1;
export const MAX_SERVER_INSTANCES: i32 = Cap.SERVERS; // profiles.json

export namespace Srv {
  export const ShortServerId: u32 = 0;
  export const Lifetime: u32 = 1;
  export const DefaultMinimumPeriod: u32 = 2;
  export const DefaultMaximumPeriod: u32 = 3;
  export const Disable: u32 = 4;
  export const DisableTimeout: u32 = 5;
  export const NotificationStoring: u32 = 6;
  export const Binding: u32 = 7;
  export const RegistrationUpdateTrigger: u32 = 8;
  export const BootstrapRequestTrigger: u32 = 9;
  export const LastBootstrapped: u32 = 12;
  export const CommunicationRetryCount: u32 = 17;
  export const CommunicationRetryTimer: u32 = 18;
  export const CommunicationSequenceDelayTimer: u32 = 19;
  export const CommunicationSequenceRetryCount: u32 = 20;
}

const TABLE = memory.data<u32>([
  0 | T_INT | RES_R | RES_MANDATORY, 0,
  1 | T_INT | RES_R | RES_W | RES_MANDATORY, 0,
  2 | T_INT | RES_R | RES_W, 0,
  3 | T_INT | RES_R | RES_W, 0,
  4 | RES_E, 0,
  5 | T_INT | RES_R | RES_W, 0,
  6 | T_BOOL | RES_R | RES_W | RES_MANDATORY, 0,
  7 | T_STRING | RES_R | RES_W | RES_MANDATORY, 8,
  8 | RES_E | RES_MANDATORY, 0,
  9 | RES_E, 0,
  12 | T_TIME | RES_R, 0,
  17 | T_UINT | RES_R | RES_W, 0,
  18 | T_UINT | RES_R | RES_W, 0,
  19 | T_UINT | RES_R | RES_W, 0,
  20 | T_UINT | RES_R | RES_W, 0,
]);

/** Binding (§6.2.1.1 "Behaviour with Current Transport Binding and Modes"): U, M, H, T, S, N, and Q from 1.0. */
function bindingOk(p: usize, n: i32): bool {
  if (n == 0) return false;
  for (let i = 0; i < n; i++) {
    const c = <u32>load<u8>(p + <usize>i);
    if (c != 0x55 && c != 0x4d && c != 0x48 && c != 0x54 && c != 0x53 && c != 0x4e && c != 0x51) return false;
  }
  return true;
}

function serverCheck(rid: u32, iv: i64, ptr: usize, len: i32): bool {
  if (rid == Srv.ShortServerId) return iv >= 1 && iv <= 65534;
  if (rid == Srv.Binding) return bindingOk(ptr, len);
  if (rid == Srv.Lifetime || rid == Srv.DefaultMinimumPeriod || rid == Srv.DefaultMaximumPeriod || rid == Srv.DisableTimeout) {
    return iv >= 0 && iv <= 0xffffffff;
  }
  if (rid >= Srv.CommunicationRetryCount) return <u64>iv <= 0xffffffff;
  return true;
}

function serverExec(iid: u32, rid: u32, args: usize, len: i32): i32 {
  const ssid = <i32>getInt(SERVER_OID, iid, Srv.ShortServerId);
  if (rid == Srv.Disable) postAction(Action.Disable, ssid);
  else if (rid == Srv.RegistrationUpdateTrigger) postAction(Action.RegistrationUpdate, ssid);
  else postAction(Action.BootstrapRequest, ssid);
  return 0x44; // 2.04 Changed
}

function serverWritten(iid: u32, rid: u32): void {
  postAction(Action.ServerChanged, <i32>getInt(SERVER_OID, iid, Srv.ShortServerId));
}

export function serverDefine(): i32 {
  const i = defineObject(SERVER_OID, VER_1_1, TABLE, 15, MAX_SERVER_INSTANCES, OBJ_MULTI | OBJ_CONFIG);
  if (i >= 0) setObjectHooks(SERVER_OID, 0, changetype<usize>(serverCheck), changetype<usize>(serverExec), changetype<usize>(serverWritten));
  return i;
}

// ---- accessors for the registration glue (current view) ----

/** Server Object instance with this Short Server ID, or -1. */
export function serverFind(ssid: u32): i32 {
  const o = findObject(SERVER_OID);
  if (!o) return -1;
  for (let s = instNext(o, -1); s; s = instNext(o, <i32>slotIid(s))) {
    if (getInt(SERVER_OID, slotIid(s), Srv.ShortServerId) == <i64>ssid) return <i32>slotIid(s);
  }
  return -1;
}

/** A Resource of the Server account `ssid`, or `dflt` when the account or the Resource is absent. */
export function serverValue(ssid: u32, rid: u32, dflt: i64): i64 {
  const iid = serverFind(ssid);
  if (iid < 0) return dflt;
  const v = getInt(SERVER_OID, <u32>iid, rid);
  return found ? v : dflt;
}

/** Registration retry parameters with the 1.1 defaults (§6.2.1.2 Table: 5, 60 s, 86400 s, 1). */
export function retryCount(ssid: u32): i64 { return serverValue(ssid, Srv.CommunicationRetryCount, 5); }
export function retryTimer(ssid: u32): i64 { return serverValue(ssid, Srv.CommunicationRetryTimer, 60); }
export function sequenceDelayTimer(ssid: u32): i64 { return serverValue(ssid, Srv.CommunicationSequenceDelayTimer, 86400); }
export function sequenceRetryCount(ssid: u32): i64 { return serverValue(ssid, Srv.CommunicationSequenceRetryCount, 1); }

/** Binding string of the account (pointer; length in valueLen of the model), 0 when absent. */
export function serverBinding(ssid: u32): usize {
  const iid = serverFind(ssid);
  return iid < 0 ? 0 : getBytes(SERVER_OID, <u32>iid, Srv.Binding);
}

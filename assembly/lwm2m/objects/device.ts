// LwM2M Device Object (ID 3), OMA-TS-LightweightM2M_Core-V1_1 Appendix E.4:
// the mandatory Resources 4 Reboot, 11 Error Code, 16 Supported Binding and
// Modes, and 0-3, 5, 9, 13, 17-19. Reboot and Factory Reset do not touch the
// host: they post Action.Reboot / Action.FactoryReset, read by the firmware
// glue with pendingDeviceAction() after the 2.04 went out.
import {
  defineObject, setObjectHooks, createInstance, setText, setInt, putInt, getInt, found, postAction, Action,
  RES_R, RES_W, RES_E, RES_MANDATORY, RES_MULTIPLE, T_STRING, T_INT, T_TIME, VER_1_0,
} from "../model";

export const DEVICE_OID: u32 = 3;
export const DEVICE_STRING_CAP: u32 = 32;

export namespace Dev {
  export const Manufacturer: u32 = 0;
  export const ModelNumber: u32 = 1;
  export const SerialNumber: u32 = 2;
  export const FirmwareVersion: u32 = 3;
  export const Reboot: u32 = 4;
  export const FactoryReset: u32 = 5;
  export const BatteryLevel: u32 = 9;
  export const ErrorCode: u32 = 11;
  export const CurrentTime: u32 = 13;
  export const SupportedBindingAndModes: u32 = 16;
  export const DeviceType: u32 = 17;
  export const HardwareVersion: u32 = 18;
  export const SoftwareVersion: u32 = 19;
}

const TABLE = memory.data<u32>([
  0 | T_STRING | RES_R, DEVICE_STRING_CAP,
  1 | T_STRING | RES_R, DEVICE_STRING_CAP,
  2 | T_STRING | RES_R, DEVICE_STRING_CAP,
  3 | T_STRING | RES_R, DEVICE_STRING_CAP,
  4 | RES_E | RES_MANDATORY, 0,
  5 | RES_E, 0,
  9 | T_INT | RES_R, 0,
  11 | T_INT | RES_R | RES_MANDATORY | RES_MULTIPLE, 4 << 16,
  13 | T_TIME | RES_R | RES_W, 0,
  16 | T_STRING | RES_R | RES_MANDATORY, 8,
  17 | T_STRING | RES_R, DEVICE_STRING_CAP,
  18 | T_STRING | RES_R, DEVICE_STRING_CAP,
  19 | T_STRING | RES_R, DEVICE_STRING_CAP,
]);

/** Wall clock in Unix seconds, -1 unknown: installed by the glue (the model never calls the host). */
export type WallClock = () => i64;
function noClock(): i64 { return -1; }
let clock: WallClock = noClock;
let timeOffset: i64 = 0;
export function setDeviceClock(fn: WallClock): void { clock = fn; }

function deviceRead(iid: u32, rid: u32): void {
  if (rid != Dev.CurrentTime) return;
  const now = clock();
  if (now >= 0) putInt(DEVICE_OID, iid, rid, now + timeOffset);
}

function deviceWritten(iid: u32, rid: u32): void {
  if (rid != Dev.CurrentTime) return;
  const now = clock();
  const v = getInt(DEVICE_OID, iid, rid);
  if (now >= 0 && found) timeOffset = v - now;
}

function deviceCheck(rid: u32, iv: i64, ptr: usize, len: i32): bool {
  return rid != Dev.BatteryLevel || (iv >= 0 && iv <= 100);
}

function deviceExec(iid: u32, rid: u32, args: usize, len: i32): i32 {
  postAction(rid == Dev.Reboot ? Action.Reboot : Action.FactoryReset, 0);
  return 0x44; // 2.04 Changed
}

/** Declares Object 3 and its single instance with the mandatory values (Error Code 0 = no error, binding "U"). */
export function deviceDefine(): i32 {
  const i = defineObject(DEVICE_OID, VER_1_0, TABLE, 13, 1, 0);
  if (i < 0) return i;
  setObjectHooks(DEVICE_OID, changetype<usize>(deviceRead), changetype<usize>(deviceCheck), changetype<usize>(deviceExec),
    changetype<usize>(deviceWritten));
  createInstance(DEVICE_OID, 0);
  setInt(DEVICE_OID, 0, Dev.ErrorCode, 0, 0);
  setText(DEVICE_OID, 0, Dev.SupportedBindingAndModes, "U");
  return i;
}

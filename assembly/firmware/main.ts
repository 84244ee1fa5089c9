// Firmware entry: the exports of host ABI v1 (host-shim/ABI.md).
import { ABI_VERSION } from "../host/abi";
import { info } from "../util/log";

export function abi_version(): i32 { return ABI_VERSION; }

export function init(now_ms: i64): i64 {
  info("lwm2m-wasm booting");
  return -1;
}

// Test entry for assembly/firmware/transport.ts: opens a client connection's
// transport with any Security Mode value, exactly as registration.ts does
// with the Security object's resource 2 (securityMode(): -1 when absent).
// The Security object refuses modes outside 0..4 on every write path, so an
// unknown mode only reaches the transport from a damaged or future
// configuration; this entry lets a test prove that it is refused there too
// (DTLS-11: never NoSec unless mode 3 is configured).
export { scratch, scratchSize } from "./_scratch";
import { ABI_VERSION } from "../host/abi";
import { transportInit } from "../firmware/transport";
import { transportOpen } from "../lwm2m/client/conn";

export function abiVersion(): i32 { return ABI_VERSION; }

let ready = false;

/** transportOpen(ci, secIid, mode, host, port): TRANSPORT_UP / TRANSPORT_PENDING or a TransportError. */
export function openWithMode(ci: i32, secIid: u32, mode: i32, host: usize, hostLen: i32, port: i32, now: i64): i32 {
  if (!ready) {
    transportInit();
    ready = true;
  }
  return transportOpen(ci, secIid, mode, host, hostLen, port, now);
}

// Firmware entry: the exports of host ABI v1 (host-shim/ABI.md). The host
// owns the loop: it calls init, datagram_received and timer_fired; each
// returns the next deadline in monotonic ms (-1 = none). Nothing here blocks.
import { ABI_VERSION, LogLevel, HostStatus } from "../host/abi";
import { info, error, logNum } from "../util/log";
import { rngIsHealthy, seSelfTest, generateKeyPair } from "../se/keys";
import { mountFlash, MountResult } from "../storage/flash";
import { storeMount, storeRecordCount, StoreStatus } from "../storage/store";

export function abi_version(): i32 { return ABI_VERSION; }

// One receive buffer the host writes datagrams into (RFC 6347 over IPv6 MTU 1280 fits).
const RX_CAPACITY: i32 = 1536;
const rxBuffer = memory.data(1536, 16);
export function rx_buffer(): usize { return rxBuffer; }
export function rx_capacity(): i32 { return RX_CAPACITY; }

/** Boot status bits, for the host and tests. */
namespace BootStatus {
  export const RngHealthy: i32 = 1;
  export const SeHealthy: i32 = 2;
  export const FlashMounted: i32 = 4;
}
let bootStatus: i32 = 0;
export function boot_status(): i32 { return bootStatus; }

export function init(now_ms: i64): i64 {
  bootStatus = 0;
  info("lwm2m-wasm firmware starting (host ABI v1)");
  if (rngIsHealthy()) {
    bootStatus |= BootStatus.RngHealthy;
    info("DRBG: health tests passed");
  } else {
    error("DRBG: health test failure; key generation disabled (EST-2)");
  }
  const se = seSelfTest();
  if (se == HostStatus.Ok) {
    bootStatus |= BootStatus.SeHealthy;
    info("SE: self-test passed (P-256 keygen, sign, verify, ECDH)");
  } else {
    logNum(LogLevel.Error, "SE: self-test failed, status ", se);
  }
  const m = mountFlash();
  if (m < 0) {
    logNum(LogLevel.Error, "flash: mount failed, status ", m);
  } else {
    if (m == MountResult.Formatted) info("flash: no valid superblock, formatted");
    // SE-2: sealed, rollback-protected record store. A refused store is
    // reported, never silently re-formatted: that is a policy decision.
    const st = storeMount();
    if (st == StoreStatus.Ok || st == StoreStatus.Formatted) {
      bootStatus |= BootStatus.FlashMounted;
      if (st == StoreStatus.Formatted) info("store: empty, formatted");
      logNum(LogLevel.Info, "store: mounted, records: ", storeRecordCount());
    } else if (st == StoreStatus.RolledBack) {
      error("store: REFUSED, flash is older than the SE counter (rollback)");
    } else if (st == StoreStatus.AuthFailed) {
      error("store: REFUSED, newest commit failed authentication (tampered)");
    } else {
      logNum(LogLevel.Error, "store: mount failed, status ", st);
    }
  }
  return -1;
}

export function datagram_received(peer: i32, len: i32, now_ms: i64): i64 {
  return -1;
}

export function timer_fired(now_ms: i64): i64 {
  return -1;
}

/** EST-1/EST-3: generate the device's own P-256 key pair in SE slot `slot`;
 *  the public key (65 bytes) is written to `pub_out`. Refused when the DRBG
 *  is unhealthy (EST-2). */
export function generate_device_key(slot: i32, pub_out: usize): i32 {
  return generateKeyPair(slot, pub_out);
}

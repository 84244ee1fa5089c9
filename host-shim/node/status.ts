// Mirror of the constants in assembly/host/abi.ts (host-shim/ABI.md).
export const ABI_VERSION = 1;
export const HostStatus = {
  Ok: 0,
  Invalid: -1,
  NoKey: -2,
  RngHealth: -3,
  BadSignature: -4,
  AuthFailed: -5,
  Io: -6,
  TooSmall: -7,
  NotPermitted: -8,
} as const;
export const LogLevel = { Error: 0, Warn: 1, Info: 2, Debug: 3 } as const;
export const LOG_LEVEL_NAMES = ["error", "warn", "info", "debug"];
export const P256_PUBLIC_KEY_LEN = 65;
export const P256_SIGNATURE_LEN = 64;
export const P256_SHARED_SECRET_LEN = 32;
export const SE_SLOT_COUNT = 16;
export const SE_SEAL_OVERHEAD = 28;
export const BootStatus = { RngHealthy: 1, SeHealthy: 2, FlashMounted: 4 } as const;

/** assembly/storage/store.ts StoreStatus (the firmware's store_status() export). */
export const StoreStatus = {
  Ok: 0, Formatted: 1, Invalid: -1, AuthFailed: -5, Io: -6, TooSmall: -7, NotFound: -16, RolledBack: -17,
  NoSpace: -18, NotMounted: -19, TxnState: -20, ForeignStore: -21, Missing: -22, Corrupt: -23,
} as const;

/** One precise sentence per refused store (docs/storage.md). */
export function storeStatusMessage(st: number): string {
  switch (st) {
    case StoreStatus.RolledBack: return "the flash image is older than the SE's monotonic counter (rollback): refused";
    case StoreStatus.AuthFailed: return "the newest commit in the flash image fails authentication with this SE's key (a different SE key store, or forged): refused";
    case StoreStatus.Corrupt: return "the newest commit in the flash image is damaged (CRC mismatch: a bit flip): refused";
    case StoreStatus.ForeignStore: return "the flash image holds a sealed store that this SE key store never committed (key store replaced or missing): refused, not re-formatted";
    case StoreStatus.Missing: return "the SE has committed a store but the flash image holds none (erased, zeroed or replaced): refused";
    case StoreStatus.Invalid: return "the flash geometry is unusable: refused";
    case StoreStatus.Io: return "flash or SE I/O error";
    case StoreStatus.NotMounted: return "the flash could not be mounted";
    default: return `store status ${st}`;
  }
}

/** A state file (flash.img, se-keystore.json) the simulator refuses; the message says why, without secrets. */
export class DeviceStateError extends RangeError {}

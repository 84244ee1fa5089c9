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

// Host ABI v1: the ONLY file in the firmware that declares host imports.
// Contract and semantics: host-shim/ABI.md. Every import lives in the
// WebAssembly module "lwm2m_v1"; all values are i32/i64, buffers are
// pointer + length into the firmware's linear memory.

export const ABI_VERSION: i32 = 1;

/** Status codes shared by every host service (negative = error). */
export namespace HostStatus {
  export const Ok: i32 = 0;
  export const Invalid: i32 = -1; // bad argument (length, pointer, slot number)
  export const NoKey: i32 = -2; // SE slot empty
  export const RngHealth: i32 = -3; // DRBG entropy health test failed (SP 800-90B)
  export const BadSignature: i32 = -4; // verify: signature does not match
  export const AuthFailed: i32 = -5; // se_open: record tampered or wrong key
  export const Io: i32 = -6; // flash/net failure (incl. power cut)
  export const TooSmall: i32 = -7; // output buffer too small
  export const NotPermitted: i32 = -8; // e.g. flash program would need 0->1 bits
}

export namespace LogLevel {
  export const Error: i32 = 0;
  export const Warn: i32 = 1;
  export const Info: i32 = 2;
  export const Debug: i32 = 3;
}

export namespace FatalCode {
  export const Abort: i32 = 1; // AssemblyScript abort (assertion, bounds): a firmware bug
}

/** P-256 sizes used across the SE service. */
export const P256_PUBLIC_KEY_LEN: i32 = 65; // SEC1 uncompressed 0x04||X||Y
export const P256_PRIVATE_KEY_LEN: i32 = 32;
export const P256_SIGNATURE_LEN: i32 = 64; // r||s, big-endian, 32 bytes each
export const P256_SHARED_SECRET_LEN: i32 = 32; // x-coordinate
export const SE_SLOT_COUNT: i32 = 16;
export const SE_SEAL_OVERHEAD: i32 = 28; // 12-byte nonce + 16-byte tag

// ---- net ---------------------------------------------------------------
/** Open a UDP association to host:port (host as ASCII bytes; the host resolves it).
 *  Returns a peer handle >= 0, or a negative HostStatus. */
// @ts-ignore: decorator
@external("lwm2m_v1", "net_open")
export declare function net_open(host: usize, host_len: i32, port: i32): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "net_close")
export declare function net_close(peer: i32): void;
// @ts-ignore: decorator
@external("lwm2m_v1", "net_send")
export declare function net_send(peer: i32, ptr: usize, len: i32): i32;

// ---- clock -------------------------------------------------------------
// @ts-ignore: decorator
@external("lwm2m_v1", "clock_monotonic_ms")
export declare function clock_monotonic_ms(): i64;
/** Seconds since the Unix epoch, or -1 when absolute time is unknown (DTLS-6). */
// @ts-ignore: decorator
@external("lwm2m_v1", "clock_wall_seconds")
export declare function clock_wall_seconds(): i64;

// ---- rng ---------------------------------------------------------------
/** Fill [ptr, ptr+len) from the device DRBG; HostStatus.RngHealth when unhealthy. */
// @ts-ignore: decorator
@external("lwm2m_v1", "rng_fill")
export declare function rng_fill(ptr: usize, len: i32): i32;

// ---- se (secure environment) ---------------------------------------------
// @ts-ignore: decorator
@external("lwm2m_v1", "se_generate_p256")
export declare function se_generate_p256(slot: i32, pub_out: usize): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "se_import_p256")
export declare function se_import_p256(slot: i32, priv: usize, priv_len: i32, pub_out: usize): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "se_public_key")
export declare function se_public_key(slot: i32, pub_out: usize): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "se_sign_digest")
export declare function se_sign_digest(slot: i32, digest: usize, sig_out: usize): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "se_ecdh")
export declare function se_ecdh(slot: i32, peer_pub: usize, peer_pub_len: i32, secret_out: usize): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "se_verify_digest")
export declare function se_verify_digest(pub: usize, pub_len: i32, digest: usize, sig: usize): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "se_destroy")
export declare function se_destroy(slot: i32): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "se_seal")
export declare function se_seal(input: usize, in_len: i32, aad: usize, aad_len: i32, out: usize, out_cap: i32): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "se_open")
export declare function se_open(input: usize, in_len: i32, aad: usize, aad_len: i32, out: usize, out_cap: i32): i32;

/** The SE's monotonic counter (survives power loss; never decreases), after
 *  incrementing it when `increment` != 0. Negative HostStatus on failure. */
// @ts-ignore: decorator
@external("lwm2m_v1", "se_counter")
export declare function se_counter(increment: i32): i64;

// ---- flash (NOR semantics) --------------------------------------------------
// @ts-ignore: decorator
@external("lwm2m_v1", "flash_size")
export declare function flash_size(): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "flash_sector_size")
export declare function flash_sector_size(): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "flash_read")
export declare function flash_read(addr: i32, ptr: usize, len: i32): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "flash_program")
export declare function flash_program(addr: i32, ptr: usize, len: i32): i32;
// @ts-ignore: decorator
@external("lwm2m_v1", "flash_erase_sector")
export declare function flash_erase_sector(addr: i32): i32;

// ---- log -----------------------------------------------------------------
// @ts-ignore: decorator
@external("lwm2m_v1", "log_write")
export declare function log_write(level: i32, ptr: usize, len: i32): void;

// ---- fatal / abort -----------------------------------------------------------
// @ts-ignore: decorator
@external("lwm2m_v1", "fatal")
declare function host_fatal(code: i32, line: i32): void;

/** Target of `--use abort=`: report to the host (a device reset on boards), then trap. */
export function onAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  host_fatal(FatalCode.Abort, <i32>line);
  unreachable();
}

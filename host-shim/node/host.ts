// Builds the WebAssembly import object of host ABI v1 (host-shim/ABI.md) from
// the Node services. Every pointer + length is bounds-checked: a bad one is
// answered with HostStatus.Invalid, never a host exception.
import { LogDictionary } from "./log-dictionary";
import { HostStatus, P256_PUBLIC_KEY_LEN, P256_SIGNATURE_LEN, P256_SHARED_SECRET_LEN } from "./status";
import type { DeviceRng } from "./drbg";
import type { SimulatedSecureElement } from "./se";
import type { NorFlash } from "./flash";

export interface Clock {
  monotonicMs(): number;
  /** Unix seconds, or -1 when the device has no absolute time (DTLS-6). */
  wallSeconds(): number;
}

export const systemClock: Clock = {
  monotonicMs: () => Math.floor(performance.now()),
  wallSeconds: () => Math.floor(Date.now() / 1000),
};

export interface NetService {
  open(host: string, port: number): number;
  send(peer: number, data: Uint8Array): number;
  close(peer: number): void;
  /** Close every socket (Device.stop / reboot); a net without it owns no handles. */
  closeAll?(): void;
}

/** What the flash_* imports need of a flash: NorFlash, or the fleet's SparseNorFlash. */
export type FlashService = Pick<NorFlash, "size" | "sectorSize" | "read" | "program" | "eraseSector" | "close">;

export interface HostServices {
  rng: DeviceRng;
  se: SimulatedSecureElement;
  flash: FlashService;
  net: NetService;
  clock: Clock;
  log(level: number, text: string): void;
  fatal(code: number, line: number): void;
  /** The texts of a firmware built with a log dictionary (its tokens are decoded in log lines). */
  logDictionary?: LogDictionary | null;
}

export class FirmwareFatal extends Error {
  constructor(readonly code: number, readonly line: number) {
    super(`firmware fatal error ${code} at line ${line} (a device reset on a board)`);
  }
}

export function createHostImports(services: HostServices, memory: () => WebAssembly.Memory): WebAssembly.Imports {
  const { rng, se, flash, net, clock } = services;
  const view = (ptr: number, len: number): Uint8Array | null => {
    const buf = memory().buffer;
    if (!Number.isInteger(ptr) || !Number.isInteger(len) || ptr < 0 || len < 0 || ptr + len > buf.byteLength) return null;
    return new Uint8Array(buf, ptr, len);
  };
  const put = (ptr: number, bytes: Uint8Array, expectedLen: number): number => {
    const out = view(ptr, expectedLen);
    if (!out || bytes.length !== expectedLen) return HostStatus.Invalid;
    out.set(bytes);
    return HostStatus.Ok;
  };
  const ascii = (ptr: number, len: number) => { const v = view(ptr, len); return v ? Buffer.from(v).toString("latin1") : null; };
  /** Run an SE call that yields bytes or a status, and copy the bytes out. */
  const result = (r: Uint8Array | number, ptr: number, len: number) => (typeof r === "number" ? r : put(ptr, r, len));

  const lwm2m_v1 = {
    net_open(host: number, hostLen: number, port: number) {
      const h = ascii(host, hostLen);
      return h === null ? HostStatus.Invalid : net.open(h, port);
    },
    net_close(peer: number) { net.close(peer); },
    net_send(peer: number, ptr: number, len: number) {
      const v = view(ptr, len);
      return v ? net.send(peer, v) : HostStatus.Invalid;
    },
    clock_monotonic_ms: () => BigInt(clock.monotonicMs()),
    clock_wall_seconds: () => BigInt(clock.wallSeconds()),
    rng_fill(ptr: number, len: number) {
      const v = view(ptr, len);
      return v ? rng.fill(v) : HostStatus.Invalid;
    },
    se_generate_p256(slot: number, pubOut: number) {
      if (!view(pubOut, P256_PUBLIC_KEY_LEN)) return HostStatus.Invalid;
      return result(se.generate(slot, rng), pubOut, P256_PUBLIC_KEY_LEN);
    },
    se_import_p256(slot: number, priv: number, privLen: number, pubOut: number) {
      const k = view(priv, privLen);
      if (!k || !view(pubOut, P256_PUBLIC_KEY_LEN)) return HostStatus.Invalid;
      const copy = k.slice();
      const r = result(se.importPrivate(slot, copy), pubOut, P256_PUBLIC_KEY_LEN);
      copy.fill(0); // the SE keeps its own copy; the firmware wipes its buffer (SEC-3)
      return r;
    },
    se_public_key(slot: number, pubOut: number) {
      if (!view(pubOut, P256_PUBLIC_KEY_LEN)) return HostStatus.Invalid;
      return result(se.publicKey(slot), pubOut, P256_PUBLIC_KEY_LEN);
    },
    se_sign_digest(slot: number, digest: number, sigOut: number) {
      const d = view(digest, 32);
      if (!d || !view(sigOut, P256_SIGNATURE_LEN)) return HostStatus.Invalid;
      return result(se.signDigest(slot, d.slice()), sigOut, P256_SIGNATURE_LEN);
    },
    se_ecdh(slot: number, peerPub: number, peerLen: number, secretOut: number) {
      const p = view(peerPub, peerLen);
      if (!p || !view(secretOut, P256_SHARED_SECRET_LEN)) return HostStatus.Invalid;
      return result(se.ecdh(slot, p.slice()), secretOut, P256_SHARED_SECRET_LEN);
    },
    se_verify_digest(pub: number, pubLen: number, digest: number, sig: number) {
      const p = view(pub, pubLen), d = view(digest, 32), s = view(sig, P256_SIGNATURE_LEN);
      if (!p || !d || !s) return HostStatus.Invalid;
      return se.verifyDigest(p.slice(), d.slice(), s.slice()) ? HostStatus.Ok : HostStatus.BadSignature;
    },
    se_destroy: (slot: number) => se.destroy(slot),
    se_seal(input: number, inLen: number, aad: number, aadLen: number, out: number, outCap: number) {
      const i = view(input, inLen), a = view(aad, aadLen), o = view(out, outCap);
      if (!i || !a || !o) return HostStatus.Invalid;
      const sealed = se.seal(i.slice(), a.slice());
      if (typeof sealed === "number") return sealed;
      if (sealed.length > outCap) return HostStatus.TooSmall;
      o.set(sealed);
      return sealed.length;
    },
    se_open(input: number, inLen: number, aad: number, aadLen: number, out: number, outCap: number) {
      const i = view(input, inLen), a = view(aad, aadLen), o = view(out, outCap);
      if (!i || !a || !o) return HostStatus.Invalid;
      const plain = se.open(i.slice(), a.slice());
      if (plain === null) return HostStatus.AuthFailed;
      if (typeof plain === "number") return plain;
      if (plain.length > outCap) { plain.fill(0); return HostStatus.TooSmall; }
      o.set(plain);
      plain.fill(0);
      return plain.length;
    },
    se_counter: (increment: number) => BigInt(se.counter(increment !== 0)),
    flash_size: () => flash.size,
    flash_sector_size: () => flash.sectorSize,
    flash_read(addr: number, ptr: number, len: number) {
      const o = view(ptr, len);
      if (!o) return HostStatus.Invalid;
      const r = flash.read(addr, len);
      if (typeof r === "number") return r;
      o.set(r);
      return HostStatus.Ok;
    },
    flash_program(addr: number, ptr: number, len: number) {
      const v = view(ptr, len);
      return v ? flash.program(addr, v.slice()) : HostStatus.Invalid;
    },
    flash_erase_sector: (addr: number) => flash.eraseSector(addr),
    log_write(level: number, ptr: number, len: number) {
      const v = view(ptr, len);
      if (v) services.log(level, LogDictionary.decode(v, services.logDictionary));
    },
    fatal(code: number, line: number) { services.fatal(code, line); },
  };
  return { lwm2m_v1 };
}

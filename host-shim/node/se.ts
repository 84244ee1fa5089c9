// Simulated secure element behind the se_* host imports: 16 P-256 key slots
// and a device-unique AES-256-GCM sealing key that never leave this object.
// Private keys are never returned, logged or printed; methods return results
// or negative HostStatus codes and never throw on bad input.
import { createCipheriv, createDecipheriv, createECDH, randomBytes } from "node:crypto";
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { inspect } from "node:util";
import { DeviceStateError } from "./status";
import { p256 } from "@noble/curves/nist.js";

/** HostStatus values and sizes from assembly/host/abi.ts. */
export const SeStatus = { Ok: 0, Invalid: -1, NoKey: -2, RngHealth: -3, Io: -6 } as const;
export const SE_SLOT_COUNT = 16;
/** Slots from here on are volatile (RAM only, like an SE's session keys): never written to the key store, gone at power-off (ABI v1: 8–14 ephemeral ECDHE, 15 self-test). */
export const SE_VOLATILE_FIRST = 8;
export const P256_PUBLIC_KEY_LEN = 65;
export const P256_PRIVATE_KEY_LEN = 32;
export const P256_SIGNATURE_LEN = 64;
export const SE_SEAL_OVERHEAD = 28; // 12-byte nonce + 16-byte tag
const NONCE_LEN = 12;
const TAG_LEN = 16;
const STORE_FORMAT = "lwm2m-wasm-se/1";

/** What `generate` draws private keys from (the DeviceRng). */
export interface RandomFill {
  fill(buf: Uint8Array): number;
}

export type SelfTestResult = { ok: true } | { ok: false; reason: string };

const N = p256.Point.Fn.ORDER;
const isBytes = (x: unknown, len?: number): x is Uint8Array =>
  x instanceof Uint8Array && (len === undefined || x.length === len);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** A private scalar must be 32 bytes in [1, n-1] (SEC 1 §3.2.1). */
function isValidScalar(k: Uint8Array): boolean {
  if (!isBytes(k, P256_PRIVATE_KEY_LEN)) return false;
  let d = 0n;
  for (const b of k) d = (d << 8n) | BigInt(b);
  return d > 0n && d < N;
}

/** A new private key from rng by rejection sampling into [1, n-1] (FIPS 186-5 A.2.2), or a status. */
function newPrivateKey(rng: RandomFill): Uint8Array | number {
  const k = new Uint8Array(P256_PRIVATE_KEY_LEN);
  for (let tries = 0; tries < 64; tries++) {
    const st = rng.fill(k);
    if (st !== 0) { k.fill(0); return st < 0 ? st : SeStatus.RngHealth; }
    if (isValidScalar(k)) return k;
  }
  k.fill(0);
  return SeStatus.RngHealth; // 64 rejections in a row (p < 2^-2000): the RNG is broken
}

/** SEC1 uncompressed point on P-256 (not the identity, on the curve), or null. */
function parsePublicKey(pub: unknown): ReturnType<typeof p256.Point.fromBytes> | null {
  if (!isBytes(pub, P256_PUBLIC_KEY_LEN) || pub[0] !== 0x04) return null;
  try {
    const P = p256.Point.fromBytes(pub); // checks the curve equation
    P.assertValidity();
    return P.is0() ? null : P;
  } catch {
    return null;
  }
}

// The fixed-point and variable-point multiplications run on node:crypto's native
// P-256 (OpenSSL): @noble/curves takes about 4.5 ms per ECDH here, OpenSSL 0.1 ms,
// and every ECDHE handshake and every boot self-test pays for it. Inputs are
// validated first (isValidScalar, parsePublicKey on @noble/curves); the tests
// check both against @noble/curves.

/** priv * G, uncompressed (65 bytes). */
function publicKeyOf(priv: Uint8Array): Uint8Array {
  const e = createECDH("prime256v1");
  e.setPrivateKey(priv);
  return new Uint8Array(e.getPublicKey());
}

/** x-coordinate of priv * peer (SEC 1 §3.3.1), 32 bytes. */
function ecdhRaw(priv: Uint8Array, peer: Uint8Array): Uint8Array {
  const e = createECDH("prime256v1");
  e.setPrivateKey(priv);
  return new Uint8Array(e.computeSecret(peer));
}

function signRaw(priv: Uint8Array, digest: Uint8Array): Uint8Array {
  // prehash: false since we are given the digest; RFC 6979 deterministic k; low-S.
  return p256.sign(digest, priv, { prehash: false, lowS: true, format: "compact" });
}

export class SimulatedSecureElement {
  readonly path?: string;
  #slots = new Map<number, Uint8Array>();
  #deviceKey: Uint8Array;
  #counter = 0; // monotonic counter (rollback protection for sealed storage, SE-2)

  /** Loads the key store from `path` (creating it with a new device key if missing); in-memory without a path. */
  constructor(path?: string) {
    this.path = path;
    if (path !== undefined && existsSync(path)) {
      this.#deviceKey = this.#load(path);
    } else {
      this.#deviceKey = new Uint8Array(randomBytes(32));
      if (path !== undefined && this.#persist() !== SeStatus.Ok) {
        throw new Error(`cannot write SE key store ${path}`);
      }
    }
  }

  #load(path: string): Uint8Array {
    // The parse error text could quote key bytes: report only a generic message.
    const fail = () => new DeviceStateError(`SE key store ${path} is unreadable or corrupt`);
    let doc: any;
    let text: string;
    try { text = readFileSync(path, "utf8"); } catch { throw fail(); }
    if (text.trim() === "") throw new DeviceStateError(`SE key store ${path} is empty`);
    try { doc = JSON.parse(text); } catch { throw fail(); }
    if (!doc || doc.format !== STORE_FORMAT || typeof doc.deviceKey !== "string" || typeof doc.slots !== "object") throw fail();
    const key = new Uint8Array(Buffer.from(doc.deviceKey, "hex"));
    if (doc.counter !== undefined && !(Number.isSafeInteger(doc.counter) && doc.counter >= 0)) throw fail();
    this.#counter = doc.counter ?? 0;
    if (key.length !== 32) throw fail();
    for (const [s, v] of Object.entries(doc.slots)) {
      const slot = Number(s);
      const priv = typeof v === "string" ? new Uint8Array(Buffer.from(v, "hex")) : new Uint8Array(0);
      if (!this.#validSlot(slot) || slot >= SE_VOLATILE_FIRST || !isValidScalar(priv)) throw fail();
      this.#slots.set(slot, priv);
    }
    return key;
  }

  /** Atomic write: temp file, fsync, rename. Returns Ok or Io. */
  #persist(): number {
    if (this.path === undefined) return SeStatus.Ok;
    const slots: Record<string, string> = {};
    for (const [s, k] of [...this.#slots].sort((a, b) => a[0] - b[0])) if (s < SE_VOLATILE_FIRST) slots[s] = hex(k);
    const text = JSON.stringify({ format: STORE_FORMAT, deviceKey: hex(this.#deviceKey), counter: this.#counter, slots });
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      const fd = openSync(tmp, "w", 0o600);
      try { writeSync(fd, text); fsyncSync(fd); } finally { closeSync(fd); }
      renameSync(tmp, this.path);
      return SeStatus.Ok;
    } catch {
      try { unlinkSync(tmp); } catch { /* already gone */ }
      return SeStatus.Io;
    }
  }

  /** Put (or with null remove) a slot's key and persist (volatile slots: not); rolls back and returns Io if the store cannot be written. */
  #setSlot(slot: number, priv: Uint8Array | null): number {
    const old = this.#slots.get(slot);
    if (priv) this.#slots.set(slot, priv); else this.#slots.delete(slot);
    const st = slot >= SE_VOLATILE_FIRST ? SeStatus.Ok : this.#persist();
    if (st !== SeStatus.Ok) {
      if (old) this.#slots.set(slot, old); else this.#slots.delete(slot);
      priv?.fill(0);
      return st;
    }
    if (old && old !== priv) old.fill(0);
    return SeStatus.Ok;
  }

  #validSlot(slot: unknown): slot is number {
    return Number.isInteger(slot) && (slot as number) >= 0 && (slot as number) < SE_SLOT_COUNT;
  }

  /** Occupied slot numbers. */
  occupiedSlots(): number[] {
    return [...this.#slots.keys()].sort((a, b) => a - b);
  }

  /** se_generate_p256: new key pair in `slot` (replacing any key there); returns the 65-byte public key. */
  generate(slot: number, rng: RandomFill): Uint8Array | number {
    if (!this.#validSlot(slot)) return SeStatus.Invalid;
    const priv = newPrivateKey(rng);
    if (typeof priv === "number") return priv;
    const pub = publicKeyOf(priv);
    const st = this.#setSlot(slot, priv);
    return st === SeStatus.Ok ? pub : st;
  }

  /** se_import_p256: store a provisioned 32-byte private key (must be in [1, n-1]); returns the public key. */
  importPrivate(slot: number, priv: Uint8Array): Uint8Array | number {
    if (!this.#validSlot(slot) || !isValidScalar(priv)) return SeStatus.Invalid;
    const copy = Uint8Array.from(priv);
    const pub = publicKeyOf(copy);
    const st = this.#setSlot(slot, copy);
    return st === SeStatus.Ok ? pub : st;
  }

  /** se_public_key */
  publicKey(slot: number): Uint8Array | number {
    if (!this.#validSlot(slot)) return SeStatus.Invalid;
    const priv = this.#slots.get(slot);
    return priv ? publicKeyOf(priv) : SeStatus.NoKey;
  }

  /** se_sign_digest: ECDSA over a 32-byte digest; returns r||s (64 bytes, low-S, RFC 6979 k). */
  signDigest(slot: number, digest: Uint8Array): Uint8Array | number {
    if (!this.#validSlot(slot) || !isBytes(digest, 32)) return SeStatus.Invalid;
    const priv = this.#slots.get(slot);
    if (!priv) return SeStatus.NoKey;
    try { return signRaw(priv, digest); } catch { return SeStatus.Invalid; }
  }

  /** se_ecdh: x-coordinate of priv(slot) * peer; the peer must be a valid uncompressed P-256 point. */
  ecdh(slot: number, peerPub: Uint8Array): Uint8Array | number {
    if (!this.#validSlot(slot) || !parsePublicKey(peerPub)) return SeStatus.Invalid;
    const priv = this.#slots.get(slot);
    if (!priv) return SeStatus.NoKey;
    try { return ecdhRaw(priv, peerPub); } catch { return SeStatus.Invalid; }
  }

  /** se_verify_digest: false for a bad signature and for any malformed input. Accepts high-S (peers need not normalise). */
  verifyDigest(pub: Uint8Array, digest: Uint8Array, sig: Uint8Array): boolean {
    if (!parsePublicKey(pub) || !isBytes(digest, 32) || !isBytes(sig, P256_SIGNATURE_LEN)) return false;
    try {
      return p256.verify(sig, digest, pub, { prehash: false, lowS: false, format: "compact" });
    } catch {
      return false; // r or s out of [1, n-1]
    }
  }

  /** se_destroy: wipe the slot (Ok also when already empty). */
  destroy(slot: number): number {
    if (!this.#validSlot(slot)) return SeStatus.Invalid;
    return this.#slots.has(slot) ? this.#setSlot(slot, null) : SeStatus.Ok;
  }

  /** se_counter: the monotonic counter, incremented first when `increment` (never goes back; survives restarts). */
  counter(increment: boolean): number {
    if (increment) {
      this.#counter++;
      if (this.#persist() !== SeStatus.Ok) { this.#counter--; return SeStatus.Io; }
    }
    return this.#counter;
  }

  /** se_seal: AES-256-GCM under the device key; nonce(12) || ciphertext || tag(16). */
  seal(plain: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array | number {
    if (!isBytes(plain) || !isBytes(aad)) return SeStatus.Invalid;
    const nonce = randomBytes(NONCE_LEN);
    const c = createCipheriv("aes-256-gcm", this.#deviceKey, nonce, { authTagLength: TAG_LEN });
    c.setAAD(aad);
    const body = Buffer.concat([c.update(plain), c.final()]);
    const out = new Uint8Array(NONCE_LEN + body.length + TAG_LEN);
    out.set(nonce, 0);
    out.set(body, NONCE_LEN);
    out.set(c.getAuthTag(), NONCE_LEN + body.length);
    return out;
  }

  /** se_open: the plaintext, or null if the record is malformed, tampered, or sealed under another key. */
  open(sealed: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array | null {
    if (!isBytes(sealed) || !isBytes(aad) || sealed.length < SE_SEAL_OVERHEAD) return null;
    try {
      const d = createDecipheriv("aes-256-gcm", this.#deviceKey, sealed.subarray(0, NONCE_LEN), { authTagLength: TAG_LEN });
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
      const plain = Buffer.concat([d.update(sealed.subarray(NONCE_LEN, sealed.length - TAG_LEN)), d.final()]);
      return new Uint8Array(plain);
    } catch {
      return null;
    }
  }

  /** Power-on self test with scratch keys (no slot is touched): keygen, sign/verify, ECDH both ways. */
  selfTest(rng: RandomFill): SelfTestResult {
    const a = newPrivateKey(rng);
    if (typeof a === "number") return { ok: false, reason: `key generation failed (${a})` };
    const b = newPrivateKey(rng);
    if (typeof b === "number") { a.fill(0); return { ok: false, reason: `key generation failed (${b})` }; }
    try {
      const pubA = publicKeyOf(a);
      const pubB = publicKeyOf(b);
      const digest = new Uint8Array(32).fill(0xa5);
      const sig = signRaw(a, digest);
      if (!this.verifyDigest(pubA, digest, sig)) return { ok: false, reason: "signature does not verify" };
      digest[0] ^= 1;
      if (this.verifyDigest(pubA, digest, sig)) return { ok: false, reason: "signature verifies over a different digest" };
      const ab = ecdhRaw(a, pubB);
      const ba = ecdhRaw(b, pubA);
      if (ab.length !== 32 || hex(ab) !== hex(ba)) return { ok: false, reason: "ECDH secrets differ" };
      const sealed = this.seal(Uint8Array.of(1, 2, 3), Uint8Array.of(4));
      const opened = typeof sealed === "number" ? null : this.open(sealed, Uint8Array.of(4));
      if (!opened || hex(opened) !== "010203") return { ok: false, reason: "seal/open round trip failed" };
      return { ok: true };
    } catch {
      return { ok: false, reason: "P-256 operation failed" };
    } finally {
      a.fill(0);
      b.fill(0);
    }
  }

  toJSON(): object {
    return { slots: this.occupiedSlots(), store: this.path ?? null };
  }

  toString(): string {
    return `SimulatedSecureElement { slots: [${this.occupiedSlots().join(", ")}], store: ${this.path ?? "memory"} }`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

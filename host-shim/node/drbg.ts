// NIST SP 800-90A Rev.1 HMAC_DRBG with SHA-256 (§10.1.2), and the device RNG
// behind the `rng_fill` host import: HMAC_DRBG seeded from a health-tested
// entropy source (SP 800-90B §4.3/§4.4), with the §9.3 / §11.3 error state.
// No prediction resistance is offered (rng_fill never requests it).
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  ASSUMED_MIN_ENTROPY, EntropySource, HealthCheckedSource, HealthFailure, OsEntropySource,
} from "./entropy";

/** Security strength of HMAC_DRBG with SHA-256 (SP 800-90A Table 2). */
export const SECURITY_STRENGTH = 256;
/** max_number_of_bits_per_request = 2^19 bits (SP 800-90A Table 2). */
export const MAX_BYTES_PER_REQUEST = 65536;
/** reseed_interval = 2^48 (SP 800-90A Table 2). */
export const DEFAULT_RESEED_INTERVAL = 2 ** 48;
/** HostStatus.RngHealth from assembly/host/abi.ts. */
export const RNG_HEALTH = -3;

const OUTLEN = 32;

/** get_entropy_input for automatic reseeding: fresh entropy, or null on ERROR. */
export type GetEntropy = () => Uint8Array | null;

export interface HmacDrbgOptions {
  reseedInterval?: number;
  /** Used by `generate` to reseed when the reseed counter exceeds the interval (§9.3.1 step 7). */
  getEntropy?: GetEntropy;
}

/** HMAC_DRBG (SHA-256), the pure deterministic algorithm of SP 800-90A §10.1.2. */
export class HmacDrbg {
  readonly reseedInterval: number;
  #getEntropy?: GetEntropy;
  #K: Uint8Array = new Uint8Array(OUTLEN);
  #V: Uint8Array = new Uint8Array(OUTLEN);
  #reseedCounter = 0; // 0 = not instantiated

  constructor(opts: HmacDrbgOptions = {}) {
    this.reseedInterval = opts.reseedInterval ?? DEFAULT_RESEED_INTERVAL;
    if (!(this.reseedInterval >= 1 && this.reseedInterval <= DEFAULT_RESEED_INTERVAL)) {
      throw new RangeError("reseed interval must be in [1, 2^48]");
    }
    this.#getEntropy = opts.getEntropy;
  }

  get instantiated(): boolean { return this.#reseedCounter > 0; }
  get reseedCounter(): number { return this.#reseedCounter; }

  /** HMAC_DRBG_Update (§10.1.2.2); provided_data is the concatenation of `data`. */
  #update(...data: (Uint8Array | null | undefined)[]): void {
    const parts = data.filter((d): d is Uint8Array => d != null && d.length > 0);
    for (const sep of [0x00, 0x01]) {
      const h = hmac.create(sha256, this.#K).update(this.#V).update(Uint8Array.of(sep));
      for (const p of parts) h.update(p);
      this.#setK(h.digest());
      this.#setV(hmac(sha256, this.#K, this.#V));
      if (parts.length === 0) return; // provided_data = Null: one round only
    }
  }

  #setK(k: Uint8Array): void { this.#K.fill(0); this.#K = k; }
  #setV(v: Uint8Array): void { this.#V.fill(0); this.#V = v; }

  /** HMAC_DRBG_Instantiate (§10.1.2.3). Entropy input must carry ≥ 256 bits of entropy. */
  instantiate(entropy: Uint8Array, nonce: Uint8Array, personalization?: Uint8Array | null): void {
    if (entropy.length * 8 < SECURITY_STRENGTH) throw new RangeError("entropy input shorter than the security strength");
    this.#setK(new Uint8Array(OUTLEN));
    this.#setV(new Uint8Array(OUTLEN).fill(0x01));
    this.#update(entropy, nonce, personalization);
    this.#reseedCounter = 1;
  }

  /** HMAC_DRBG_Reseed (§10.1.2.4). */
  reseed(entropy: Uint8Array, additional?: Uint8Array | null): void {
    if (!this.instantiated) throw new Error("DRBG not instantiated");
    if (entropy.length * 8 < SECURITY_STRENGTH) throw new RangeError("entropy input shorter than the security strength");
    this.#update(entropy, additional);
    this.#reseedCounter = 1;
  }

  /**
   * HMAC_DRBG_Generate (§10.1.2.5) wrapped by the Generate_function of §9.3.1:
   * when the reseed counter exceeds the interval it reseeds from `getEntropy`
   * (with the additional input, which then becomes Null). Returns null when
   * that entropy could not be obtained (ERROR); throws on caller misuse.
   */
  generate(n: number, additional?: Uint8Array | null): Uint8Array | null {
    if (!this.instantiated) throw new Error("DRBG not instantiated");
    if (!Number.isInteger(n) || n < 0 || n > MAX_BYTES_PER_REQUEST) throw new RangeError("request size out of range");
    if (this.#reseedCounter > this.reseedInterval) {
      if (!this.#getEntropy) throw new Error("reseed required");
      const e = this.#getEntropy();
      if (e === null) return null;
      this.reseed(e, additional);
      e.fill(0);
      additional = null;
    }
    if (additional && additional.length > 0) this.#update(additional);
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += OUTLEN) {
      this.#setV(hmac(sha256, this.#K, this.#V));
      out.set(this.#V.subarray(0, Math.min(OUTLEN, n - off)), off);
    }
    this.#update(additional);
    this.#reseedCounter++;
    return out;
  }

  /** Uninstantiate_function (§9.4): wipe the internal state. */
  uninstantiate(): void {
    this.#K.fill(0);
    this.#V.fill(0);
    this.#reseedCounter = 0;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `HmacDrbg { instantiated: ${this.instantiated} }`;
  }
}

export interface DeviceRngOptions {
  reseedInterval?: number;
  personalization?: Uint8Array;
  /** Assumed min-entropy per source sample, H (default ASSUMED_MIN_ENTROPY). */
  minEntropyPerSample?: number;
}

/**
 * The device RNG: HMAC_DRBG instantiated and reseeded from a health-tested
 * entropy source. Entropy input = ceil(256/H) samples (≥ 256 bits of
 * min-entropy), nonce = ceil(128/H) samples (§8.6.7: ≥ half the strength).
 * A health-test failure puts it in the error state: K/V wiped and every
 * `fill` returns RNG_HEALTH until `reinstantiate()` succeeds.
 */
export class DeviceRng {
  readonly options: DeviceRngOptions;
  #drbg!: HmacDrbg;
  #source!: HealthCheckedSource;
  #error = true;
  #reseeds = 0;

  constructor(source: EntropySource = new OsEntropySource(), options: DeviceRngOptions = {}) {
    this.options = options;
    this.reinstantiate(source);
  }

  /** False while in the error state. */
  get healthy(): boolean { return !this.#error; }
  /** Which health test failed, if any. */
  get failure(): HealthFailure | null { return this.#source.failure; }
  /** Number of reseeds since (re)instantiation (automatic, at the reseed interval). */
  get reseeds(): number { return this.#reseeds; }

  #entropy(bits: number): Uint8Array | null {
    return this.#source.read(this.#source.samplesFor(bits));
  }

  /** Fresh start-up tests and instantiation; with no argument keeps the current source. Returns 0 or RNG_HEALTH. */
  reinstantiate(source?: EntropySource): number {
    this.#drbg?.uninstantiate();
    this.#error = true;
    this.#reseeds = 0;
    this.#source = new HealthCheckedSource(source ?? this.#source.source, this.options.minEntropyPerSample ?? ASSUMED_MIN_ENTROPY);
    this.#drbg = new HmacDrbg({
      reseedInterval: this.options.reseedInterval,
      getEntropy: () => { this.#reseeds++; return this.#entropy(SECURITY_STRENGTH); },
    });
    const entropy = this.#entropy(SECURITY_STRENGTH);
    const nonce = entropy && this.#entropy(SECURITY_STRENGTH / 2);
    if (!entropy || !nonce) { entropy?.fill(0); return RNG_HEALTH; }
    this.#drbg.instantiate(entropy, nonce, this.options.personalization ?? new TextEncoder().encode("lwm2m-wasm DeviceRng v1"));
    entropy.fill(0);
    nonce.fill(0);
    this.#error = false;
    return 0;
  }

  /** rng_fill: fills `buf` and returns 0, or zero-fills it and returns RNG_HEALTH (-3). */
  fill(buf: Uint8Array): number {
    if (this.#error) { buf.fill(0); return RNG_HEALTH; }
    for (let off = 0; off < buf.length; off += MAX_BYTES_PER_REQUEST) {
      const n = Math.min(MAX_BYTES_PER_REQUEST, buf.length - off);
      const out = this.#drbg.generate(n);
      if (out === null) { // §11.3: enter the error state
        this.uninstantiate();
        buf.fill(0);
        return RNG_HEALTH;
      }
      buf.set(out, off);
      out.fill(0);
    }
    return 0;
  }

  /** Wipe the DRBG state; `fill` fails until `reinstantiate()`. */
  uninstantiate(): void {
    this.#drbg.uninstantiate();
    this.#error = true;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `DeviceRng { healthy: ${this.healthy}, failure: ${this.failure} }`;
  }
}

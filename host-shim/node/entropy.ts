// Entropy sources and NIST SP 800-90B health tests for the device DRBG.
//
// Each byte from a source is one 8-bit sample. We claim a conservative
// min-entropy of H = 1 bit per sample (ASSUMED_MIN_ENTROPY). The OS source is
// a conditioned CSPRNG whose bytes really carry ~8 bits, so with H = 1 the
// tests essentially never false-alarm on it (a 21-sample run has probability
// 2^-160), while a stuck source trips the RCT within 21 samples and a source
// that emits one value more than ~61% of the time trips the APT.
import { randomBytes } from "node:crypto";

/** A raw noise source: `read(n)` returns n samples (one byte each). */
export interface EntropySource {
  read(n: number): Uint8Array;
}

/** Assumed min-entropy per 8-bit sample, H (SP 800-90B §4.4). */
export const ASSUMED_MIN_ENTROPY = 1;
/** False-positive probability per test, alpha = 2^-20 (SP 800-90B §4.4). */
export const ALPHA_LOG2 = 20;
/** APT window for non-binary sources (SP 800-90B §4.4.2). */
export const APT_WINDOW = 512;
/** Start-up testing covers at least 1024 samples (SP 800-90B §4.3). */
export const STARTUP_SAMPLES = 1024;

/** RCT cutoff C = 1 + ceil(-log2(alpha) / H) (SP 800-90B §4.4.1). */
export function rctCutoff(h: number = ASSUMED_MIN_ENTROPY, alphaLog2: number = ALPHA_LOG2): number {
  return 1 + Math.ceil(alphaLog2 / h);
}

/**
 * APT cutoff C = 1 + CRITBINOM(W, 2^-H, 1 - alpha) (SP 800-90B §4.4.2): one
 * more than the smallest k with P(X > k) <= alpha for X ~ Binomial(W, 2^-H).
 * Computed in log space so small p and large W do not underflow.
 */
export function aptCutoff(h: number = ASSUMED_MIN_ENTROPY, w: number = APT_WINDOW, alphaLog2: number = ALPHA_LOG2): number {
  const p = Math.pow(2, -h);
  const logAlpha = -alphaLog2 * Math.LN2;
  // logPmf[k] = ln C(w,k) + k ln p + (w-k) ln(1-p)
  const logPmf = new Float64Array(w + 1);
  let logC = 0;
  for (let k = 0; k <= w; k++) {
    if (k > 0) logC += Math.log(w - k + 1) - Math.log(k);
    logPmf[k] = logC + k * Math.log(p) + (w - k) * Math.log1p(-p);
  }
  // Walk down from k = w, accumulating the upper tail P(X > k) by log-sum-exp.
  let logTail = -Infinity;
  let k = w;
  while (k > 0) {
    const a = Math.max(logTail, logPmf[k]);
    const next = a + Math.log(Math.exp(logTail - a) + Math.exp(logPmf[k] - a));
    if (next > logAlpha) break;
    logTail = next;
    k--;
  }
  return 1 + k;
}

/** SP 800-90B §4.4.2 Table 2, W = 512 (non-binary), alpha = 2^-20, by H. */
export const APT_CUTOFF_TABLE_W512: ReadonlyMap<number, number> = new Map([
  [0.5, 410], [1, 311], [2, 177], [4, 62], [8, 13],
]);

/** Which test failed; "source" = the source returned fewer samples than asked. */
export type HealthFailure = "rct" | "apt" | "source";

/** Continuous health tests (SP 800-90B §4.4) over a stream of samples. Failure is sticky. */
export class HealthTests {
  readonly rctCutoff: number;
  readonly aptCutoff: number;
  failure: HealthFailure | null = null;
  samples = 0;
  // Repetition Count Test state (§4.4.1)
  private rctA = -1;
  private rctB = 0;
  // Adaptive Proportion Test state (§4.4.2)
  private aptA = -1;
  private aptB = 0;
  private aptI = 0;

  constructor(h: number = ASSUMED_MIN_ENTROPY) {
    this.rctCutoff = rctCutoff(h);
    this.aptCutoff = APT_CUTOFF_TABLE_W512.get(h) ?? aptCutoff(h);
  }

  /** Run both tests over the samples; false once any test has failed. */
  feed(samples: Uint8Array): boolean {
    if (this.failure) return false;
    for (let i = 0; i < samples.length; i++) {
      const x = samples[i];
      this.samples++;
      // RCT: count identical consecutive samples.
      if (x === this.rctA) {
        if (++this.rctB >= this.rctCutoff) { this.failure = "rct"; return false; }
      } else { this.rctA = x; this.rctB = 1; }
      // APT: within a window of W samples, count occurrences of the first one.
      if (this.aptI === 0) { this.aptA = x; this.aptB = 1; }
      else if (x === this.aptA) {
        if (++this.aptB >= this.aptCutoff) { this.failure = "apt"; return false; }
      }
      if (++this.aptI === APT_WINDOW) this.aptI = 0;
    }
    return true;
  }
}

/**
 * A source with the health tests applied to every sample it yields. `startup()`
 * runs the tests over STARTUP_SAMPLES discarded samples (§4.3); `read` returns
 * null once a test has failed (and forever after).
 */
export class HealthCheckedSource {
  readonly tests: HealthTests;
  private started = false;

  constructor(readonly source: EntropySource, readonly h: number = ASSUMED_MIN_ENTROPY) {
    this.tests = new HealthTests(h);
  }

  get failure(): HealthFailure | null { return this.tests.failure; }

  startup(): boolean {
    if (!this.started) {
      this.started = true;
      const s = this.source.read(STARTUP_SAMPLES);
      const ok = s.length === STARTUP_SAMPLES && this.tests.feed(s);
      s.fill(0);
      if (!ok) this.tests.failure ??= "source";
    }
    return this.tests.failure === null;
  }

  /** n samples, or null if start-up has not passed or any test failed. */
  read(n: number): Uint8Array | null {
    if (!this.startup()) return null;
    const s = this.source.read(n);
    if (s.length !== n) { s.fill(0); this.tests.failure ??= "source"; return null; }
    if (!this.tests.feed(s)) { s.fill(0); return null; }
    return s;
  }

  /** Samples needed for `bits` of min-entropy at H bits per sample. */
  samplesFor(bits: number): number { return Math.ceil(bits / this.h); }
}

// ---- sources ------------------------------------------------------------------

/** The OS CSPRNG (getrandom via node:crypto). */
export class OsEntropySource implements EntropySource {
  read(n: number): Uint8Array { return new Uint8Array(randomBytes(n)); }
}

/** A broken source stuck at one value. */
export class StuckEntropySource implements EntropySource {
  constructor(readonly value: number) {}
  read(n: number): Uint8Array { return new Uint8Array(n).fill(this.value); }
}

/** xorshift32: a small seeded PRNG for reproducible test sources (not for secrets). */
function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s;
  };
}

/**
 * A biased source: emits `value` with probability `p`, otherwise a uniform
 * byte. Runs of `value` are capped at `maxRun` so that it stays "biased, not
 * stuck" (it should trip the APT, not the RCT).
 */
export class BiasedEntropySource implements EntropySource {
  private next: () => number;
  private run = 0;
  constructor(readonly value: number, readonly p: number, seed = 1, readonly maxRun = 8) {
    this.next = xorshift32(seed);
  }
  read(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      let x = this.next();
      if ((x >>> 8) / 2 ** 24 < this.p && this.run < this.maxRun) x = this.value;
      else { x &= 0xff; if (x === this.value) x ^= 0x80; }
      this.run = x === this.value ? this.run + 1 : 0;
      out[i] = x;
    }
    return out;
  }
}

/** Yields the scripted bytes first, then reads from `then` (default: repeats the script). */
export class ScriptedEntropySource implements EntropySource {
  private pos = 0;
  constructor(readonly script: Uint8Array, readonly then?: EntropySource) {}
  read(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let i = 0;
    while (i < n) {
      if (this.pos >= this.script.length) {
        if (this.then) { out.set(this.then.read(n - i), i); return out; }
        this.pos = 0;
        if (this.script.length === 0) return out;
      }
      const k = Math.min(n - i, this.script.length - this.pos);
      out.set(this.script.subarray(this.pos, this.pos + k), i);
      this.pos += k; i += k;
    }
    return out;
  }
}

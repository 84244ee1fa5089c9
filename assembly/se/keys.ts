// Secure-environment policy on top of the host `se` service (SE-1, EST-2, EST-3).
// Private keys stay in the SE and are named by slot; the firmware only ever
// holds public keys, signatures and (briefly) ECDH shared secrets, which it wipes.
import {
  HostStatus, rng_fill, se_generate_p256, se_sign_digest, se_verify_digest, se_ecdh, se_destroy,
  P256_PUBLIC_KEY_LEN, P256_SIGNATURE_LEN, P256_SHARED_SECRET_LEN, SE_SLOT_COUNT,
} from "../host/abi";

/** Slot plan: 0 device identity (RPK / EST-enrolled), 1..7 provisioned keys, 8..14 ephemeral ECDHE, 15 self-test. */
export namespace SeSlot {
  export const DeviceIdentity: i32 = 0;
  export const FirstEphemeral: i32 = 8;
  export const SelfTest: i32 = 15;
}

const rngProbe = memory.data(32);

/** EST-2: draw from the DRBG and report whether its health tests pass. */
export function rngIsHealthy(): bool {
  const st = rng_fill(rngProbe, 32);
  memory.fill(rngProbe, 0, 32);
  return st == HostStatus.Ok;
}

/** Generate a P-256 key pair inside the SE (EST-1/EST-3). Refused with
 *  RngHealth when the DRBG's entropy health tests fail (EST-2). */
export function generateKeyPair(slot: i32, pubOut: usize): i32 {
  if (slot < 0 || slot >= SE_SLOT_COUNT) return HostStatus.Invalid;
  if (!rngIsHealthy()) return HostStatus.RngHealth;
  return se_generate_p256(slot, pubOut);
}

const stPub = memory.data(65);
const stSig = memory.data(64);
const stSecret = memory.data(32);
const stSecret2 = memory.data(32);
const stDigest = memory.data(32);

/** Power-on self-test of the SE: generate, sign, verify (and a tampered
 *  signature must fail), ECDH, destroy. Returns HostStatus.Ok or the failing status. */
export function seSelfTest(): i32 {
  let st = generateKeyPair(SeSlot.SelfTest, stPub);
  if (st != HostStatus.Ok) return st;
  // Any 32-byte value serves as the digest under test: take it from the DRBG.
  st = rng_fill(stDigest, 32);
  if (st == HostStatus.Ok) st = se_sign_digest(SeSlot.SelfTest, stDigest, stSig);
  if (st == HostStatus.Ok) st = se_verify_digest(stPub, P256_PUBLIC_KEY_LEN, stDigest, stSig);
  if (st == HostStatus.Ok) {
    store<u8>(stSig + 10, load<u8>(stSig + 10) ^ 1);
    if (se_verify_digest(stPub, P256_PUBLIC_KEY_LEN, stDigest, stSig) != HostStatus.BadSignature) st = HostStatus.BadSignature;
  }
  // ECDH with our own public key twice must agree and be non-zero.
  if (st == HostStatus.Ok) st = se_ecdh(SeSlot.SelfTest, stPub, P256_PUBLIC_KEY_LEN, stSecret);
  if (st == HostStatus.Ok) st = se_ecdh(SeSlot.SelfTest, stPub, P256_PUBLIC_KEY_LEN, stSecret2);
  if (st == HostStatus.Ok) {
    let diff: u32 = 0, any: u32 = 0;
    for (let i = 0; i < P256_SHARED_SECRET_LEN; i++) {
      const a = load<u8>(stSecret + <usize>i);
      diff |= a ^ load<u8>(stSecret2 + <usize>i);
      any |= a;
    }
    if (diff != 0 || any == 0) st = HostStatus.Invalid;
  }
  memory.fill(stSecret, 0, 32);
  memory.fill(stSecret2, 0, 32);
  memory.fill(stSig, 0, P256_SIGNATURE_LEN);
  const d = se_destroy(SeSlot.SelfTest);
  return st != HostStatus.Ok ? st : d;
}

// Development-only PSK derivation for fleets: a configuration that says
// "pskKey": "dev-kdf" gives every PSK identity the key
//   first 16 bytes of HMAC-SHA256(key = "lwm2m-wasm development PSK v1", message = the identity, UTF-8)
// so the development servers accept any number of devices (fleet-1 ... fleet-10000)
// without a list of keys, and `lwm2m-wasm fleet --psk-key dev-kdf` computes the
// same key on the device side. Anyone can compute these keys from the identity:
// they authenticate nothing. Development and load tests only, never a product.
import { createHmac } from "node:crypto";

export const DEV_KDF = "dev-kdf";
export const DEV_KDF_LABEL = "lwm2m-wasm development PSK v1";

/** The development PSK of an identity (16 bytes). */
export function devPsk(identity: string): Uint8Array {
  return new Uint8Array(createHmac("sha256", DEV_KDF_LABEL).update(identity, "utf8").digest().subarray(0, 16));
}

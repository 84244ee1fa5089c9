// Test entry for AES-128, CCM, CBC and TLS CBC record protection.
export { scratch, scratchSize } from "./_scratch";
export {
  AES128_KEY_SCHEDULE_SIZE, aes128ExpandKey, aes128EncryptBlock, aes128DecryptBlock,
} from "../crypto/aes";
export { ccmSeal, ccmOpen } from "../crypto/ccm";
export {
  cbcEncrypt, cbcDecrypt, tlsCbcSeal, tlsCbcOpen, tlsCbcSealedLength,
} from "../crypto/cbc";
export { CRYPTO_ERR_AUTH, CRYPTO_ERR_LENGTH } from "../crypto/errors";

import { aes128EncryptBlock } from "../crypto/aes";
import { ccmSeal } from "../crypto/ccm";
// Lets the release-size build resolve --use abort=assembly/host/abi/onAbort.
import { ABI_VERSION } from "../host/abi";

/** Benchmark helpers: repeat in wasm so JS call overhead does not count. */
export function benchAesBlocks(ks: usize, buf: usize, n: i32): void {
  for (let i = 0; i < n; i++) aes128EncryptBlock(ks, buf, buf);
}
export function benchCcmSeal(ks: usize, nonce: usize, aad: usize, aadLen: i32, pt: usize, len: i32, out: usize, n: i32): i32 {
  let r = 0;
  for (let i = 0; i < n; i++) r = ccmSeal(ks, nonce, 12, aad, aadLen, pt, len, out, 8);
  return r;
}

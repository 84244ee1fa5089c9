// Test entry for the hash family: SHA-256, HMAC-SHA-256, the TLS 1.2 PRF,
// constant-time compare and wipe. Thin wrappers over the firmware API.
export { scratch, scratchSize } from "./_scratch";
export {
  SHA256_CTX_SIZE, SHA256_DIGEST_LEN, SHA256_BLOCK_LEN,
  sha256Init, sha256Update, sha256Final, sha256Copy, sha256,
} from "../crypto/sha256";
export {
  HMAC_SHA256_CTX_SIZE, hmacSha256Init, hmacSha256Update, hmacSha256Final, hmacSha256,
} from "../crypto/hmac";
export { tls12Prf, tls12Prf2 } from "../crypto/prf";
export { ctEqual, wipe } from "../crypto/ct";
import { loadBe16, storeBe16, loadBe24, storeBe24, loadBe32, storeBe32, loadBe48, storeBe48, loadBe64, storeBe64 } from "../util/bytes";
import { sha256Init, sha256Update, sha256Final } from "../crypto/sha256";
// Lets the release-size build resolve --use abort=assembly/host/abi/onAbort.
import { ABI_VERSION } from "../host/abi";

export function testLoadBe16(p: usize): u32 { return loadBe16(p); }
export function testStoreBe16(p: usize, v: u32): void { storeBe16(p, v); }
export function testLoadBe24(p: usize): u32 { return loadBe24(p); }
export function testStoreBe24(p: usize, v: u32): void { storeBe24(p, v); }
export function testLoadBe32(p: usize): u32 { return loadBe32(p); }
export function testStoreBe32(p: usize, v: u32): void { storeBe32(p, v); }
export function testLoadBe48(p: usize): u64 { return loadBe48(p); }
export function testStoreBe48(p: usize, v: u64): void { storeBe48(p, v); }
export function testLoadBe64(p: usize): u64 { return loadBe64(p); }
export function testStoreBe64(p: usize, v: u64): void { storeBe64(p, v); }

/** Hash `count` repetitions of [data, data+len) (e.g. the million-'a' message
 *  in 1000-byte chunks) without crossing the JS/WASM boundary per chunk. */
export function sha256Repeat(ctx: usize, data: usize, len: i32, count: i32, out: usize): void {
  sha256Init(ctx);
  for (let i = 0; i < count; i++) sha256Update(ctx, data, len);
  sha256Final(ctx, out);
}

// Handshake message parts used by both roles (the client writes what the
// server reads and vice versa): Certificate bodies (RFC 5246 7.4.2 /
// RFC 7250 3) and their verification, ServerECDHParams (RFC 8422 5.4), the
// digitally-signed struct with ecdsa_secp256r1_sha256 (RFC 5246 4.7, 7.4.8),
// and ephemeral ECDH in the SE. Readers continue at the codec's rdPos.
import {
  HostStatus, se_ecdh, se_destroy, se_sign_digest, se_verify_digest, clock_wall_seconds, P256_PUBLIC_KEY_LEN,
} from "../host/abi";
import { generateKeyPair } from "../se/keys";
import { Cert, X509Error, x509ParseSpki } from "../x509/cert";
import { X509_WORK_SIZE, VerifyFlag, ecdsaSigToRaw, ecdsaRawToDer, x509VerifyChain, listPtr, listLen } from "../x509/verify";
import { TrustConfig, lwm2mVerifyServer, rpkVerify, x509KeyNotOwn } from "../x509/trust";
import { HAS_X509 } from "../profile";
import { sha256Init, sha256Update, sha256Final } from "../crypto/sha256";
import { rdStart, rd8, rd16, rdVec, rdDone, rdLeft, rdFail, rdPos, vecPtr, wr8, wr16, wr24, wrBytes, wrPos } from "./codec";
import { NAMED_CURVE_SECP256R1, SIG_ECDSA_SECP256R1_SHA256 } from "./extensions";
import { DtlsError } from "./alert";
import { DtlsConfig } from "./config";

/** RFC 7250 3: a P-256 SubjectPublicKeyInfo is this 26-byte prefix || the 65-byte point. */
export const SPKI_P256_PREFIX_LEN: i32 = 26;
export const SPKI_P256_PREFIX = memory.data<u8>([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
  0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
]);
/** RFC 8422 5.4 ECCurveType named_curve. */
export const CURVE_TYPE_NAMED: u32 = 3;
/** Size of ServerECDHParams for P-256: curve_type, named_curve, point<1..255>. */
export const ECDH_PARAMS_LEN: i32 = 4 + 65;
/** Largest digitally-signed struct: algorithm (2), length (2), DER ECDSA-Sig-Value (<= 72). */
export const MAX_SIGNATURE_LEN: i32 = 76;
/** Certificates of a chain the verifier looks at (x509 takes up to MAX_CHAIN). */
export const MAX_CHAIN_ENTRIES: i32 = 4;

const SIG = memory.data(64, 8);
const HASH = memory.data(112, 8);
// @ts-ignore: decorator
@lazy const X509_WORK = memory.data(X509_WORK_SIZE, 8); // @lazy: none in a build profile without X.509
const CHAIN = memory.data(8 * MAX_CHAIN_ENTRIES, 8);

// ---- Certificate ----

/** Body length of our Certificate: RFC 7250 SubjectPublicKeyInfo or an X.509 certificate_list. */
export function certificateBodyLen(rpk: bool, certificatesLen: i32): i32 {
  return 3 + (rpk ? SPKI_P256_PREFIX_LEN + P256_PUBLIC_KEY_LEN : certificatesLen);
}

/** Bytes of our X.509 certificate_list contents: config.ownCertificates, or
 *  else config.ownCertificateDer as a one-entry list. */
export function ownCertificateListLen(c: DtlsConfig): i32 {
  if (c.ownCertificatesLen > 0) return c.ownCertificatesLen;
  return c.ownCertificateDerLen > 0 ? 3 + c.ownCertificateDerLen : 0;
}

/** Writes our Certificate body at wrPos (room for certificateBodyLen() checked by the caller).
 *  certificates: certificate_list contents (each a 3-byte length + DER), may be empty;
 *  when it is, der (derLen bytes, may be 0) is the one entry. */
export function writeCertificate(rpk: bool, ownPub: usize, certificates: usize, certificatesLen: i32,
  der: usize = 0, derLen: i32 = 0): void {
  if (rpk) {
    wr24(<u32>(SPKI_P256_PREFIX_LEN + P256_PUBLIC_KEY_LEN));
    wrBytes(SPKI_P256_PREFIX, SPKI_P256_PREFIX_LEN);
    wrBytes(ownPub, P256_PUBLIC_KEY_LEN);
  } else if (certificatesLen > 0 || derLen <= 0) {
    wr24(<u32>certificatesLen);
    wrBytes(certificates, certificatesLen);
  } else {
    wr24(<u32>(3 + derLen));
    wr24(<u32>derLen);
    wrBytes(der, derLen);
  }
}

/** Verifies the peer's Certificate body and copies its 65-byte key to peerKeyOut.
 *  RPK (DTLS-4): the SubjectPublicKeyInfo must equal `expected` (SPKI, point or
 *  X||Y). X.509 (DTLS-5/6/7): `trust` (an x509 TrustConfig) decides at the
 *  wall-clock time. DTLS-8: ownPub (may be 0) must differ.
 *  clientAuth (server role): an RPK with expected = 0 is any P-256 key (the
 *  host decides); a chain must validate to one anchor of trust's store with
 *  the clientAuth purpose (no host name).
 *  Returns 0, DtlsError.Decode, or an X509Error (negative, <= -100). */
export function verifyCertificate(
  body: usize, len: i32, rpk: bool, expected: usize, expectedLen: i32, trust: usize, ownPub: usize, peerKeyOut: usize,
  clientAuth: bool = false,
): i32 {
  rdStart(body, len);
  let r: i32;
  if (rpk || !HAS_X509) { // !HAS_X509: no certificate chains in this build profile
    const n = rdVec(3, 1, 0xffffff);
    if (!rdDone()) return DtlsError.Decode;
    if (clientAuth && expected == 0) {
      const off = x509ParseSpki(vecPtr, n);
      r = off < 0 ? off : x509KeyNotOwn(vecPtr + <usize>off, ownPub);
    } else {
      r = rpkVerify(vecPtr, n, expected, expectedLen, ownPub);
    }
    if (r == 0) memory.copy(peerKeyOut, vecPtr + <usize>x509ParseSpki(vecPtr, n), P256_PUBLIC_KEY_LEN);
    return r;
  }
  const total = rdVec(3, 0, 0xffffff);
  if (!rdDone()) return DtlsError.Decode;
  rdStart(vecPtr, total);
  let count = 0;
  while (rdLeft() > 0 && !rdFail) {
    const n = rdVec(3, 1, 0xffffff);
    if (count < MAX_CHAIN_ENTRIES) {
      store<u32>(CHAIN + <usize>(count * 8), <u32>vecPtr);
      store<i32>(CHAIN + <usize>(count * 8), n, 4);
    }
    count++;
  }
  if (rdFail) return DtlsError.Decode;
  if (count > MAX_CHAIN_ENTRIES) return X509Error.PathTooLong;
  if (trust == 0) return X509Error.NoTrustStore;
  const t = changetype<TrustConfig>(trust);
  t.ownPub = ownPub;
  if (clientAuth) {
    r = X509Error.NoTrustStore;
    for (let a = 0; a < t.storeCount; a++) {
      r = x509VerifyChain(CHAIN, count, listPtr(t.store, a), listLen(t.store, a), clock_wall_seconds(),
        t.flags | VerifyFlag.CLIENT_AUTH, X509_WORK);
      if (r >= 0) break;
    }
    if (r >= 0) r = x509KeyNotOwn(changetype<Cert>(X509_WORK).pub, ownPub);
  } else {
    r = lwm2mVerifyServer(t, CHAIN, count, clock_wall_seconds(), X509_WORK);
  }
  if (r < 0) return r;
  memory.copy(peerKeyOut, changetype<Cert>(X509_WORK).pub, P256_PUBLIC_KEY_LEN);
  return 0;
}

// ---- ServerECDHParams (RFC 8422 5.4): secp256r1, uncompressed points only (DTLS-7) ----

export function writeEcdhParams(pub: usize): void {
  wr8(CURVE_TYPE_NAMED);
  wr16(NAMED_CURVE_SECP256R1);
  wr8(<u32>P256_PUBLIC_KEY_LEN);
  wrBytes(pub, P256_PUBLIC_KEY_LEN);
}

/** Reads ServerECDHParams at rdPos into pubOut. 0, Decode, UnsupportedCurve or BadPoint. */
export function readEcdhParams(pubOut: usize): i32 {
  const curveType = rd8();
  const curve = rd16();
  const n = rdVec(1, 1, 255);
  if (rdFail) return DtlsError.Decode;
  if (curveType != CURVE_TYPE_NAMED || curve != NAMED_CURVE_SECP256R1) return DtlsError.UnsupportedCurve;
  if (n != P256_PUBLIC_KEY_LEN || load<u8>(vecPtr) != 4) return DtlsError.BadPoint;
  memory.copy(pubOut, vecPtr, P256_PUBLIC_KEY_LEN);
  return 0;
}

/** Reads an ECPoint<1..255> (ClientKeyExchange, RFC 8422 5.7) into pubOut. */
export function readEcPoint(pubOut: usize): i32 {
  const n = rdVec(1, 1, 255);
  if (rdFail) return DtlsError.Decode;
  if (n != P256_PUBLIC_KEY_LEN || load<u8>(vecPtr) != 4) return DtlsError.BadPoint;
  memory.copy(pubOut, vecPtr, P256_PUBLIC_KEY_LEN);
  return 0;
}

// ---- ephemeral ECDH in the SE ----

/** New ephemeral key pair in `slot` (refused when the DRBG is unhealthy). 0, Rng or SeFailure. */
export function ecdheGenerate(slot: i32, pubOut: usize): i32 {
  const st = generateKeyPair(slot, pubOut);
  if (st == HostStatus.Ok) return 0;
  se_destroy(slot);
  return st == HostStatus.RngHealth ? DtlsError.Rng : DtlsError.SeFailure;
}

/** The 32-byte shared secret with the peer's point; the slot is destroyed in any case.
 *  0, BadPoint (not on the curve) or SeFailure. */
export function ecdheAgree(slot: i32, peerPub: usize, secretOut: usize): i32 {
  const st = se_ecdh(slot, peerPub, P256_PUBLIC_KEY_LEN, secretOut);
  se_destroy(slot);
  if (st == HostStatus.Ok) return 0;
  return st == HostStatus.Invalid ? DtlsError.BadPoint : DtlsError.SeFailure;
}

// ---- digitally-signed with ecdsa_secp256r1_sha256 ----

/** Signs the 32-byte digest with the key in `slot` and writes SignatureAndHashAlgorithm
 *  + signature<0..2^16-1> (DER) at wrPos. 0 or SeFailure. */
export function writeSignature(slot: i32, digest: usize): i32 {
  if (se_sign_digest(slot, digest, SIG) != HostStatus.Ok) return DtlsError.SeFailure;
  wr16(SIG_ECDSA_SECP256R1_SHA256);
  const n = ecdsaRawToDer(SIG, wrPos + 2, 72);
  if (n < 0) return DtlsError.SeFailure;
  wr16(<u32>n);
  wrPos += <usize>n;
  return 0;
}

/** Reads a digitally-signed struct at rdPos (it must end the message) and
 *  verifies it over the digest with the peer's 65-byte key.
 *  0, Decode, UnsupportedSignature (not ecdsa_secp256r1_sha256) or BadSignature. */
export function verifySignature(peerKey: usize, digest: usize): i32 {
  const alg = rd16();
  const n = rdVec(2, 1, 0xffff);
  if (!rdDone()) return DtlsError.Decode;
  if (alg != SIG_ECDSA_SECP256R1_SHA256) return DtlsError.UnsupportedSignature;
  if (ecdsaSigToRaw(vecPtr, n, SIG) < 0) return DtlsError.BadSignature;
  return se_verify_digest(peerKey, P256_PUBLIC_KEY_LEN, digest, SIG) == HostStatus.Ok ? 0 : DtlsError.BadSignature;
}

/** RFC 8422 5.4: the ServerKeyExchange signature covers
 *  SHA-256(client_random + server_random + ServerECDHParams). */
export function ecdhParamsDigest(clientRandom: usize, serverRandom: usize, params: usize, len: i32, out: usize): void {
  sha256Init(HASH);
  sha256Update(HASH, clientRandom, 32);
  sha256Update(HASH, serverRandom, 32);
  sha256Update(HASH, params, len);
  sha256Final(HASH, out);
}

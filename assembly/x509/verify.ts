// Signature check and certification path validation (RFC 5280 section 6,
// reduced to what a DTLS client needs: one linear chain, ordered as TLS 1.2
// sends it (RFC 5246 7.4.2), of at most MAX_CHAIN certificates below a trust
// anchor). P-256 math runs in the SE (se_verify_digest); this file hashes
// the TBS and turns the DER signature into r||s.
import { Tag, derExpect, derInteger, derPutUnsigned, bytesEqual, derVal, derLen, derEnd } from "../asn1/der";
import { sha256 } from "../crypto/sha256";
import { se_verify_digest, HostStatus, P256_PUBLIC_KEY_LEN } from "../host/abi";
import { Cert, CERT_SIZE, CertFlag, KeyUsage, X509Error, x509Parse, nameEquals, oidArc } from "./cert";

/** Certificates the peer may present below the trust anchor (leaf + 2 intermediates). */
export const MAX_CHAIN: i32 = 3;

/** A date this firmware cannot have been built before: 2026-01-01T00:00:00Z.
 *  Raise it with each release. DTLS-6: without a wall clock, a certificate
 *  whose notAfter is before it is certainly expired; and a wall clock that
 *  reads earlier than it is known to be wrong, so it counts as unknown. */
export const BUILD_TIME_LOWER_BOUND: i64 = 1767225600;

export namespace VerifyFlag {
  /** Time unknown (DTLS-6), indirect trust: accept a certificate that the
   *  lower bound cannot prove expired (notAfter >= BUILD_TIME_LOWER_BOUND).
   *  notBefore cannot be settled by a lower bound and is not checked then.
   *  Without this flag such a certificate is refused with TimeUnknown. */
  export const ALLOW_TIME_LOWER_BOUND: i32 = 1;
  /** Skip validity entirely (direct trust, DTLS-6). */
  export const IGNORE_TIME: i32 = 2;
  /** The leaf must be usable by a TLS server: keyUsage digitalSignature and
   *  extKeyUsage serverAuth/anyExtendedKeyUsage, each when present. */
  export const SERVER_AUTH: i32 = 4;
  /** The same for a TLS client (extKeyUsage clientAuth). */
  export const CLIENT_AUTH: i32 = 8;
}

/** Caller memory x509VerifyChain needs: one Cert per presented certificate
 *  plus the anchor. Slot 0 holds the parsed leaf after a success. */
export const X509_WORK_SIZE: i32 = (MAX_CHAIN + 1) * CERT_SIZE;

const digest = memory.data(32);
const rawSig = memory.data(64);

// @ts-ignore: decorator
@lazy const OID_KP = memory.data<u8>([7, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03]); // 1.3.6.1.5.5.7.3.x (id-kp)
// @ts-ignore: decorator
@lazy const OID_EKU = memory.data<u8>([3, 0x55, 0x1d, 0x25]); // 2.5.29.37.x (.0 = anyExtendedKeyUsage)

/** ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 2.2.3) at
 *  [sig, sig+len) into 64 bytes r||s at out (each left-padded to 32 bytes).
 *  Malformed for bad DER; BadSignature for a negative, zero or over-long value. */
export function ecdsaSigToRaw(sig: usize, len: i32, out: usize): i32 {
  if (len <= 0) return X509Error.Malformed;
  const end = sig + <usize>len;
  let r = derExpect(sig, end, Tag.SEQUENCE);
  if (r < 0) return r;
  if (derEnd != end) return X509Error.Malformed;
  let q = derVal;
  for (let k: usize = 0; k < 64; k += 32) {
    r = derInteger(q, end);
    if (r < 0) return r;
    let v = derVal, n = derLen;
    q = derEnd;
    if (load<u8>(v) >= 0x80) return X509Error.BadSignature; // negative
    if (n > 1 && load<u8>(v) == 0) { v++; n--; } // the sign octet (DER allows exactly one)
    if (n > 32) return X509Error.BadSignature; // beyond the P-256 order
    memory.fill(out + k, 0, <usize>(32 - n));
    memory.copy(out + k + <usize>(32 - n), v, <usize>n);
    let any: u32 = 0;
    for (let i: usize = 0; i < 32; i++) any |= load<u8>(out + k + i);
    if (any == 0) return X509Error.BadSignature; // r, s in [1, n-1] (SEC 1 4.1.4)
  }
  return q == end ? 0 : X509Error.Malformed;
}

/** 64 bytes r||s at rs into a DER ECDSA-Sig-Value at [out, out+cap): octets
 *  written or X509Error.TooSmall. (For signatures this device makes, e.g. CSRs.) */
export function ecdsaRawToDer(rs: usize, out: usize, cap: i32): i32 {
  if (cap < 2) return X509Error.TooSmall;
  const a = derPutUnsigned(out + 2, cap - 2, rs, 32);
  if (a < 0) return a;
  const b = derPutUnsigned(out + 2 + <usize>a, cap - 2 - a, rs + 32, 32);
  if (b < 0) return b;
  store<u8>(out, <u8>Tag.SEQUENCE);
  store<u8>(out + 1, <u8>(a + b)); // at most 2 * 35 octets: short form
  return 2 + a + b;
}

/** Verifies c's signature (ecdsa-with-SHA256, checked by x509Parse) with the
 *  issuer's 65-byte public key: SHA-256 over the TBS, then the SE. */
export function x509VerifySignedBy(c: Cert, issuerPub: usize): i32 {
  const r = ecdsaSigToRaw(c.sig, c.sigLen, rawSig);
  if (r < 0) return r;
  sha256(c.tbs, c.tbsLen, digest);
  const s = se_verify_digest(issuerPub, P256_PUBLIC_KEY_LEN, digest, rawSig);
  if (s == HostStatus.Ok) return 0;
  return s == HostStatus.BadSignature ? X509Error.BadSignature : X509Error.InvalidKey;
}

/** Validity of c at `now` (Unix seconds; -1 = unknown), RFC 5280 4.1.2.5 with
 *  the DTLS-6 rules of VerifyFlag. */
export function x509CheckTime(c: Cert, now: i64, flags: i32): i32 {
  if (flags & VerifyFlag.IGNORE_TIME) return 0;
  if (now < BUILD_TIME_LOWER_BOUND) {
    // No usable clock: the lower bound settles "expired" only.
    if (c.notAfter < BUILD_TIME_LOWER_BOUND) return X509Error.Expired;
    return (flags & VerifyFlag.ALLOW_TIME_LOWER_BOUND) ? 0 : X509Error.TimeUnknown;
  }
  if (now < c.notBefore) return X509Error.NotYetValid;
  if (now > c.notAfter) return X509Error.Expired;
  return 0;
}

/** Leaf purpose (RFC 5280 4.2.1.3, 4.2.1.12) for VerifyFlag.SERVER_AUTH / CLIENT_AUTH. */
export function x509CheckPurpose(c: Cert, flags: i32): i32 {
  const want = (flags & VerifyFlag.SERVER_AUTH) ? 1 : (flags & VerifyFlag.CLIENT_AUTH) ? 2 : 0;
  if (want == 0) return 0;
  if ((c.flags & CertFlag.KEY_USAGE) && !(c.keyUsage & KeyUsage.DIGITAL_SIGNATURE)) return X509Error.KeyUsageMissing;
  if (!(c.flags & CertFlag.EXT_KEY_USAGE)) return 0;
  const end = c.eku + <usize>c.ekuLen;
  let q = c.eku;
  while (q < end) {
    if (derExpect(q, end, Tag.OID) < 0) return X509Error.Malformed; // checked by x509Parse
    if (oidArc(derVal, derLen, OID_KP) == want || oidArc(derVal, derLen, OID_EKU) == 0) return 0;
    q = derEnd;
  }
  return X509Error.ExtKeyUsageMissing;
}

/** The i-th entry of a certificate list: pairs of (u32 pointer, i32 length). (Calls, not @inline: 27 sites.) */
export function listPtr(list: usize, i: i32): usize { return <usize>load<u32>(list + (<usize>i << 3)); }
export function listLen(list: usize, i: i32): i32 { return load<i32>(list + (<usize>i << 3), 4); }

/** Validates the presented chain `list` (count entries, leaf first) up to the
 *  trust anchor certificate [anchor, anchor+anchorLen) at time `now`.
 *  work: X509_WORK_SIZE bytes; slot 0 holds the leaf afterwards.
 *  Returns the number of presented certificates in the path (0 when the leaf
 *  is the anchor itself; certificates after the anchor are ignored), or an error.
 *  Per certificate: issuer Name = next subject (exact DER), issuer is a CA
 *  (basicConstraints cA, keyUsage keyCertSign when present, pathLenConstraint),
 *  validity, ECDSA-SHA256 signature. The anchor's validity is checked too;
 *  its own signature is not (it is trusted by configuration). */
export function x509VerifyChain(list: usize, count: i32, anchor: usize, anchorLen: i32, now: i64, flags: i32, work: usize): i32 {
  if (count <= 0) return X509Error.Malformed;
  if (count > MAX_CHAIN) return X509Error.PathTooLong;
  const ta = changetype<Cert>(work + <usize>(MAX_CHAIN * CERT_SIZE));
  let r = x509Parse(anchor, anchorLen, ta);
  if (r < 0) return r;
  let m = count;
  for (let i = 0; i < count; i++) {
    if (listLen(list, i) == anchorLen && bytesEqual(listPtr(list, i), anchor, anchorLen)) { m = i; break; }
  }
  for (let i = 0; i < m; i++) {
    r = x509Parse(listPtr(list, i), listLen(list, i), changetype<Cert>(work + <usize>(i * CERT_SIZE)));
    if (r < 0) return r;
  }
  if (m == 0) memory.copy(work, changetype<usize>(ta), <usize>CERT_SIZE);
  for (let i = 0; i < m; i++) {
    const c = changetype<Cert>(work + <usize>(i * CERT_SIZE));
    const issuer = i + 1 < m ? changetype<Cert>(work + <usize>((i + 1) * CERT_SIZE)) : ta;
    if (!nameEquals(c.issuer, c.issuerLen, issuer.subject, issuer.subjectLen)) return X509Error.UntrustedIssuer;
    if (!(issuer.flags & CertFlag.CA)) return X509Error.NotACa; // 6.1.4 (k)
    if ((issuer.flags & CertFlag.KEY_USAGE) && !(issuer.keyUsage & KeyUsage.KEY_CERT_SIGN)) return X509Error.KeyUsageMissing; // 6.1.4 (n)
    if (issuer.pathLen >= 0 && i > issuer.pathLen) return X509Error.PathLenExceeded; // i CAs lie between issuer and leaf (6.1.4 (l)(m))
    r = x509CheckTime(c, now, flags);
    if (r < 0) return r;
    r = x509VerifySignedBy(c, issuer.pub);
    if (r < 0) return r;
  }
  r = x509CheckTime(ta, now, flags);
  if (r < 0) return r;
  r = x509CheckPurpose(changetype<Cert>(work), flags);
  return r < 0 ? r : m;
}

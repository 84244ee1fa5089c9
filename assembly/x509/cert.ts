// X.509 v3 certificate parser (RFC 5280 section 4) with the project's
// algorithm policy (DTLS-7, SEC-4): ecdsa-with-SHA256 signatures and P-256
// keys only, every refusal a named reason. Zero-copy: a Cert holds pointers
// and lengths into the caller's certificate bytes, which must stay in place
// while the Cert is used. No allocation, no recursion.
import {
  DerError, Tag, derNext, derExpect, derInteger, derSmallUint, derBoolean, derBitString,
  derTime, oidIs, bytesEqual, derTag, derVal, derLen, derEnd, derSeconds,
} from "../asn1/der";

/** Every X.509 error: negative, distinct from HostStatus (-1..-8). */
export namespace X509Error {
  export const Ok: i32 = 0;
  export const Malformed: i32 = DerError.Malformed; // -100: not DER / not an X.509 structure
  export const TooSmall: i32 = DerError.TooSmall; // -101: output buffer too small
  export const UnsupportedVersion: i32 = -102; // not v3 (RFC 5280 4.1.2.1)
  export const WeakHashSha1: i32 = -103; // SHA-1 signature (ecdsa-with-SHA1, sha1WithRSA, dsa-with-sha1), DTLS-7
  export const WeakHashMd5: i32 = -104; // MD5 (or MD2/MD4) signature, DTLS-7
  export const RsaKeyRefused: i32 = -105; // RSA key, or a signature made with an RSA key
  export const CurveTooSmall: i32 = -106; // EC key on a curve below 256 bits (DTLS-7)
  export const UnsupportedCurve: i32 = -107; // EC key on a curve other than P-256 (or explicit parameters)
  export const UnsupportedAlgorithm: i32 = -108; // any other signature or key algorithm
  export const BadSignature: i32 = -109; // the issuer's key does not verify the signature
  export const Expired: i32 = -110; // now > notAfter (or notAfter < BUILD_TIME_LOWER_BOUND)
  export const NotYetValid: i32 = -111; // now < notBefore
  export const TimeUnknown: i32 = -112; // no wall clock and the policy cannot settle validity (DTLS-6)
  export const NotACa: i32 = -113; // issuer without basicConstraints cA=TRUE
  export const KeyUsageMissing: i32 = -114; // keyUsage present without the bit needed (keyCertSign / digitalSignature)
  export const PathTooLong: i32 = -115; // more presented certificates than MAX_CHAIN
  export const PathLenExceeded: i32 = -116; // a CA's pathLenConstraint is violated
  export const UntrustedIssuer: i32 = -117; // the chain does not lead to the trust anchor
  export const HostnameMismatch: i32 = -118; // no SAN / CN matches the server host
  export const WildcardTld: i32 = -119; // only a wildcard directly over a TLD (`*.com`) would match
  export const UnknownCriticalExtension: i32 = -120; // a critical extension this code does not process
  export const KeyEqualsOwn: i32 = -121; // the peer's public key is our own (DTLS-8)
  export const InvalidKey: i32 = -122; // the SE refused the public key (e.g. not on the curve)
  export const CertMismatch: i32 = -123; // the server certificate does not match the Server Public Key resource
  export const UnsupportedMatchingType: i32 = -124; // Matching Type 2/3 (SHA-384/512) or unknown
  export const UnsupportedCertUsage: i32 = -125; // Certificate Usage above 3
  export const NoTrustStore: i32 = -126; // usage 0/1 need PKIX anchors and none are configured
  export const CaConstraintMismatch: i32 = -127; // usage 0: the configured CA is not in the validated path
  export const RpkMismatch: i32 = -128; // RFC 7250: the peer's raw public key is not the configured key
  export const ExtKeyUsageMissing: i32 = -129; // extKeyUsage present without the purpose needed
}

/** Cert.flags */
export namespace CertFlag {
  export const BASIC_CONSTRAINTS: i32 = 1;
  export const CA: i32 = 2; // basicConstraints cA = TRUE
  export const PATH_LEN: i32 = 4; // pathLenConstraint present (Cert.pathLen)
  export const KEY_USAGE: i32 = 8;
  export const SAN: i32 = 16;
  export const SAN_DNS: i32 = 32; // at least one dNSName
  export const SAN_IP: i32 = 64; // at least one iPAddress
  export const EXT_KEY_USAGE: i32 = 128;
}

/** Cert.keyUsage: the first octet of the keyUsage BIT STRING (RFC 5280 4.2.1.3; bit 0 = 0x80). */
export namespace KeyUsage {
  export const DIGITAL_SIGNATURE: i32 = 0x80;
  export const KEY_AGREEMENT: i32 = 0x08;
  export const KEY_CERT_SIGN: i32 = 0x04;
}

/** A parsed certificate: views into the DER bytes. Place it in caller memory
 *  (CERT_SIZE bytes) with changetype<Cert>(ptr). */
@unmanaged
export class Cert {
  der: usize; derLen: i32; // the whole Certificate
  tbs: usize; tbsLen: i32; // tbsCertificate TLV (header included): the signed bytes
  serial: usize; serialLen: i32; // INTEGER contents (two's complement)
  issuer: usize; issuerLen: i32; // Name TLV, compared by exact bytes
  subject: usize; subjectLen: i32; // Name TLV
  spki: usize; spkiLen: i32; // SubjectPublicKeyInfo TLV
  pub: usize; // 65-byte SEC1 uncompressed P-256 point (inside spki)
  sig: usize; sigLen: i32; // signatureValue bits: a DER ECDSA-Sig-Value
  san: usize; sanLen: i32; // subjectAltName GeneralNames contents (0 if absent)
  eku: usize; ekuLen: i32; // extKeyUsage KeyPurposeId list contents (0 if absent)
  cn: usize; cnLen: i32; cnTag: i32; // last commonName of the subject (cnLen 0 if none)
  notBefore: i64; notAfter: i64; // Unix seconds
  flags: i32; // CertFlag.*
  keyUsage: i32; // KeyUsage.* bits
  pathLen: i32; // pathLenConstraint, -1 when absent
}
export const CERT_SIZE: i32 = <i32>offsetof<Cert>();

// OID contents octets, each prefixed by its length.
// @ts-ignore: decorator
@lazy const OID_ECDSA_SHA256 = memory.data<u8>([8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]); // 1.2.840.10045.4.3.2
// @ts-ignore: decorator
@lazy const OID_ECDSA_SHA1 = memory.data<u8>([7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01]); // 1.2.840.10045.4.1
// @ts-ignore: decorator
@lazy const OID_DSA_SHA1 = memory.data<u8>([7, 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03]); // 1.2.840.10040.4.3
// @ts-ignore: decorator
@lazy const OID_PKCS1 = memory.data<u8>([8, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01]); // 1.2.840.113549.1.1.x
// @ts-ignore: decorator
@lazy const OID_EC_PUBLIC_KEY = memory.data<u8>([7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]); // 1.2.840.10045.2.1
// @ts-ignore: decorator
@lazy const OID_X962_PRIME = memory.data<u8>([7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01]); // 1.2.840.10045.3.1.x (x=7: P-256)
// @ts-ignore: decorator
@lazy const OID_SECG_CURVE = memory.data<u8>([4, 0x2b, 0x81, 0x04, 0x00]); // 1.3.132.0.x
// @ts-ignore: decorator
@lazy const OID_BRAINPOOL = memory.data<u8>([8, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01]); // 1.3.36.3.3.2.8.1.1.x
// @ts-ignore: decorator
@lazy const OID_ID_CE = memory.data<u8>([2, 0x55, 0x1d]); // 2.5.29.x: certificate extensions
// @ts-ignore: decorator
@lazy const OID_CN = memory.data<u8>([3, 0x55, 0x04, 0x03]); // 2.5.4.3 commonName

/** The last arc of an OID under `prefix` when it is a single octet below 128, else -1. */
export function oidArc(val: usize, len: i32, prefix: usize): i32 {
  const n = <i32>load<u8>(prefix);
  if (len != n + 1 || !bytesEqual(val, prefix + 1, n)) return -1;
  const last = <i32>load<u8>(val + <usize>n);
  return last < 0x80 ? last : -1;
}

/** AlgorithmIdentifier contents [p, end) of a signature: 0 for ecdsa-with-SHA256
 *  (parameters absent, RFC 5758 3.2), else the precise refusal. */
function checkSignatureAlgorithm(p: usize, end: usize): i32 {
  let r = derExpect(p, end, Tag.OID);
  if (r < 0) return r;
  const oid = derVal, n = derLen;
  if (oidIs(oid, n, OID_ECDSA_SHA256)) return derEnd == end ? 0 : X509Error.Malformed;
  if (oidIs(oid, n, OID_ECDSA_SHA1) || oidIs(oid, n, OID_DSA_SHA1)) return X509Error.WeakHashSha1;
  const rsa = oidArc(oid, n, OID_PKCS1);
  if (rsa >= 2 && rsa <= 4) return X509Error.WeakHashMd5; // md2/md4/md5WithRSAEncryption
  if (rsa == 5) return X509Error.WeakHashSha1; // sha1WithRSAEncryption
  if (rsa >= 0) return X509Error.RsaKeyRefused; // sha256WithRSAEncryption, RSASSA-PSS, ...
  return X509Error.UnsupportedAlgorithm; // ecdsa-with-SHA384/512, Ed25519, ...
}

/** SECG curves (1.3.132.0.x) under 256 bits: sect113..sect239, secp112..secp224. */
const SECG_SMALL: u64 = 0x3ffc083fe; // bits for arcs 1..9, 15, 22..33

/** SubjectPublicKeyInfo TLV at [spki, spki+len): the offset of the 65-byte
 *  uncompressed P-256 point inside it (RFC 5480), or the precise refusal. */
export function x509ParseSpki(spki: usize, len: i32): i32 {
  if (len <= 0) return X509Error.Malformed;
  const end = spki + <usize>len;
  let r = derExpect(spki, end, Tag.SEQUENCE);
  if (r < 0) return r;
  if (derEnd != end) return X509Error.Malformed;
  const body = derVal;
  r = derExpect(body, end, Tag.SEQUENCE); // AlgorithmIdentifier
  if (r < 0) return r;
  const algEnd = derEnd, bits = derEnd;
  r = derExpect(derVal, algEnd, Tag.OID);
  if (r < 0) return r;
  if (oidArc(derVal, derLen, OID_PKCS1) >= 0) return X509Error.RsaKeyRefused; // rsaEncryption, RSASSA-PSS
  if (!oidIs(derVal, derLen, OID_EC_PUBLIC_KEY)) return X509Error.UnsupportedAlgorithm;
  // ECParameters: only namedCurve (RFC 5480 2.1.1); implicit/explicit parameters refused.
  r = derNext(derEnd, algEnd);
  if (r < 0) return r;
  if (derTag != Tag.OID || derEnd != algEnd) return X509Error.UnsupportedCurve;
  let arc = oidArc(derVal, derLen, OID_X962_PRIME);
  if (arc != 7) {
    if (arc >= 1 && arc <= 6) return X509Error.CurveTooSmall; // prime192v1..3, prime239v1..3
    arc = oidArc(derVal, derLen, OID_SECG_CURVE);
    if (arc >= 0 && arc < 64 && ((SECG_SMALL >> <u64>arc) & 1) != 0) return X509Error.CurveTooSmall;
    arc = oidArc(derVal, derLen, OID_BRAINPOOL);
    if (arc >= 1 && arc <= 6) return X509Error.CurveTooSmall; // brainpoolP160..P224
    return X509Error.UnsupportedCurve; // P-384, P-521, secp256k1, brainpoolP256r1, ...
  }
  r = derBitString(bits, end);
  if (r < 0) return r;
  if (r != 0 || derEnd != end) return X509Error.Malformed;
  // RFC 5480 2.2: the ECPoint; only the uncompressed form (0x04 || X || Y) is taken.
  if (derLen != 65 || load<u8>(derVal) != 0x04) return X509Error.UnsupportedAlgorithm;
  return <i32>(derVal - spki);
}

/** Walks a Name (RFC 5280 4.1.2.4) TLV at p: SEQUENCE OF SET OF SEQUENCE
 *  { type OID, value }. Records the last commonName in c when `subject`. */
function parseName(p: usize, end: usize, c: Cert, subject: bool): i32 {
  let r = derExpect(p, end, Tag.SEQUENCE);
  if (r < 0) return r;
  const nameEnd = derEnd;
  if (subject) { c.subject = p; c.subjectLen = <i32>(nameEnd - p); } else { c.issuer = p; c.issuerLen = <i32>(nameEnd - p); }
  let q = derVal;
  while (q < nameEnd) {
    r = derExpect(q, nameEnd, Tag.SET); // RelativeDistinguishedName, SIZE (1..MAX)
    if (r < 0) return r;
    const rdnEnd = derEnd;
    if (derLen == 0) return X509Error.Malformed;
    let a = derVal;
    while (a < rdnEnd) {
      r = derExpect(a, rdnEnd, Tag.SEQUENCE); // AttributeTypeAndValue
      if (r < 0) return r;
      const atvEnd = derEnd;
      a = atvEnd;
      r = derExpect(derVal, atvEnd, Tag.OID);
      if (r < 0) return r;
      const isCn = oidIs(derVal, derLen, OID_CN);
      r = derNext(derEnd, atvEnd);
      if (r < 0) return r;
      if (derEnd != atvEnd) return X509Error.Malformed;
      if (isCn && subject) { c.cn = derVal; c.cnLen = derLen; c.cnTag = derTag; }
    }
    q = rdnEnd;
  }
  return 0;
}

/** Extension values. Each returns 0 or an error; [p, end) is the extnValue contents. */
function parseBasicConstraints(p: usize, end: usize, c: Cert): i32 {
  // RFC 5280 4.2.1.9: SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }
  let r = derExpect(p, end, Tag.SEQUENCE);
  if (r < 0) return r;
  if (derEnd != end) return X509Error.Malformed;
  const seqEnd = derEnd;
  let q = derVal;
  if (q < seqEnd && load<u8>(q) == <u8>Tag.BOOLEAN) {
    r = derBoolean(q, seqEnd);
    if (r < 0) return r;
    if (r == 1) c.flags |= CertFlag.CA;
    q = derEnd;
  }
  if (q < seqEnd) {
    r = derSmallUint(q, seqEnd);
    if (r < 0) return r;
    c.pathLen = r;
    c.flags |= CertFlag.PATH_LEN;
    if (derEnd != seqEnd) return X509Error.Malformed;
  }
  c.flags |= CertFlag.BASIC_CONSTRAINTS;
  return 0;
}

function parseKeyUsage(p: usize, end: usize, c: Cert): i32 {
  // RFC 5280 4.2.1.3: KeyUsage ::= BIT STRING
  const r = derBitString(p, end);
  if (r < 0) return r;
  if (derEnd != end) return X509Error.Malformed;
  c.keyUsage = derLen > 0 ? <i32>load<u8>(derVal) : 0;
  c.flags |= CertFlag.KEY_USAGE;
  return 0;
}

function parseSubjectAltName(p: usize, end: usize, c: Cert): i32 {
  // RFC 5280 4.2.1.6: GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
  let r = derExpect(p, end, Tag.SEQUENCE);
  if (r < 0) return r;
  if (derEnd != end || derLen == 0) return X509Error.Malformed;
  c.san = derVal;
  c.sanLen = derLen;
  let q = derVal;
  while (q < end) {
    r = derNext(q, end);
    if (r < 0) return r;
    if ((derTag & 0xc0) != 0x80) return X509Error.Malformed; // every GeneralName is context-tagged
    if (derTag == (Tag.CONTEXT_PRIMITIVE | 2)) c.flags |= CertFlag.SAN_DNS;
    if (derTag == (Tag.CONTEXT_PRIMITIVE | 7)) c.flags |= CertFlag.SAN_IP;
    q = derEnd;
  }
  c.flags |= CertFlag.SAN;
  return 0;
}

function parseExtKeyUsage(p: usize, end: usize, c: Cert): i32 {
  // RFC 5280 4.2.1.12: SEQUENCE SIZE (1..MAX) OF KeyPurposeId (OID)
  let r = derExpect(p, end, Tag.SEQUENCE);
  if (r < 0) return r;
  if (derEnd != end || derLen == 0) return X509Error.Malformed;
  c.eku = derVal;
  c.ekuLen = derLen;
  let q = derVal;
  while (q < end) {
    r = derExpect(q, end, Tag.OID);
    if (r < 0) return r;
    q = derEnd;
  }
  c.flags |= CertFlag.EXT_KEY_USAGE;
  return 0;
}

/** Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension (RFC 5280 4.1.2.9, 4.2). */
function parseExtensions(p: usize, end: usize, c: Cert): i32 {
  let r = derExpect(p, end, Tag.SEQUENCE);
  if (r < 0) return r;
  if (derEnd != end || derLen == 0) return X509Error.Malformed;
  let q = derVal;
  while (q < end) {
    // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    r = derExpect(q, end, Tag.SEQUENCE);
    if (r < 0) return r;
    const extEnd = derEnd;
    q = extEnd;
    r = derExpect(derVal, extEnd, Tag.OID);
    if (r < 0) return r;
    const id = oidArc(derVal, derLen, OID_ID_CE);
    let v = derEnd;
    let critical = false;
    if (v < extEnd && load<u8>(v) == <u8>Tag.BOOLEAN) {
      r = derBoolean(v, extEnd);
      if (r < 0) return r;
      critical = r == 1;
      v = derEnd;
    }
    r = derExpect(v, extEnd, Tag.OCTET_STRING);
    if (r < 0) return r;
    if (derEnd != extEnd) return X509Error.Malformed;
    const val = derVal, valEnd = derEnd;
    // "A certificate MUST NOT include more than one instance of a particular extension."
    let bit: i32 = 0;
    if (id == 19) bit = CertFlag.BASIC_CONSTRAINTS;
    else if (id == 15) bit = CertFlag.KEY_USAGE;
    else if (id == 17) bit = CertFlag.SAN;
    else if (id == 37) bit = CertFlag.EXT_KEY_USAGE;
    if (bit == 0) {
      // Not processed here (nameConstraints, policies, ...): refused when critical (4.2).
      if (critical) return X509Error.UnknownCriticalExtension;
      continue;
    }
    if (c.flags & bit) return X509Error.Malformed;
    if (id == 19) r = parseBasicConstraints(val, valEnd, c);
    else if (id == 15) r = parseKeyUsage(val, valEnd, c);
    else if (id == 17) r = parseSubjectAltName(val, valEnd, c);
    else r = parseExtKeyUsage(val, valEnd, c);
    if (r < 0) return r;
  }
  return 0;
}

/** Parses the DER certificate [der, der+len) into c (CERT_SIZE bytes of caller
 *  memory). 0, or the first refusal found in encoding order. */
export function x509Parse(der: usize, len: i32, c: Cert): i32 {
  memory.fill(changetype<usize>(c), 0, <usize>CERT_SIZE);
  c.pathLen = -1;
  if (len <= 0) return X509Error.Malformed;
  const end = der + <usize>len;
  if (end < der) return X509Error.Malformed;
  c.der = der;
  c.derLen = len;
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } (4.1)
  let r = derExpect(der, end, Tag.SEQUENCE);
  if (r < 0) return r;
  if (derEnd != end) return X509Error.Malformed; // nothing after the certificate
  const tbs = derVal;
  r = derExpect(tbs, end, Tag.SEQUENCE);
  if (r < 0) return r;
  const tbsEnd = derEnd;
  c.tbs = tbs;
  c.tbsLen = <i32>(tbsEnd - tbs);
  let q = derVal;
  // signatureAlgorithm (4.1.1.2) first: the precise refusal of a weak hash.
  r = derExpect(tbsEnd, end, Tag.SEQUENCE);
  if (r < 0) return r;
  const alg = tbsEnd, algLen = <i32>(derEnd - tbsEnd);
  const bits = derEnd;
  r = checkSignatureAlgorithm(derVal, derEnd);
  if (r < 0) return r;
  r = derBitString(bits, end);
  if (r < 0) return r;
  if (r != 0 || derEnd != end) return X509Error.Malformed;
  c.sig = derVal;
  c.sigLen = derLen;

  // version [0] EXPLICIT Version DEFAULT v1: only v3 (value 2) is accepted.
  r = derNext(q, tbsEnd);
  if (r < 0) return r;
  if (derTag != (Tag.CONTEXT_CONSTRUCTED | 0)) return X509Error.UnsupportedVersion;
  const verEnd = derEnd;
  r = derSmallUint(derVal, verEnd);
  if (r < 0) return r;
  if (derEnd != verEnd) return X509Error.Malformed;
  if (r != 2) return X509Error.UnsupportedVersion;
  q = verEnd;
  // serialNumber (4.1.2.2): at most 20 octets from conforming CAs; up to 32 handled gracefully.
  r = derInteger(q, tbsEnd);
  if (r < 0) return r;
  if (derLen > 32) return X509Error.Malformed;
  c.serial = derVal;
  c.serialLen = derLen;
  q = derEnd;
  // signature (4.1.2.3): MUST be the same algorithm identifier as signatureAlgorithm.
  r = derExpect(q, tbsEnd, Tag.SEQUENCE);
  if (r < 0) return r;
  if (<i32>(derEnd - q) != algLen || !bytesEqual(q, alg, algLen)) return X509Error.Malformed;
  q = derEnd;
  r = parseName(q, tbsEnd, c, false);
  if (r < 0) return r;
  q = c.issuer + <usize>c.issuerLen;
  // validity (4.1.2.5): SEQUENCE { notBefore Time, notAfter Time }
  r = derExpect(q, tbsEnd, Tag.SEQUENCE);
  if (r < 0) return r;
  const valEnd = derEnd;
  q = valEnd;
  r = derTime(derVal, valEnd);
  if (r < 0) return r;
  c.notBefore = derSeconds;
  r = derTime(derEnd, valEnd);
  if (r < 0) return r;
  c.notAfter = derSeconds;
  if (derEnd != valEnd) return X509Error.Malformed;
  // subject (4.1.2.6)
  r = parseName(q, tbsEnd, c, true);
  if (r < 0) return r;
  q = c.subject + <usize>c.subjectLen;
  // subjectPublicKeyInfo (4.1.2.7)
  r = derExpect(q, tbsEnd, Tag.SEQUENCE);
  if (r < 0) return r;
  const spkiLen = <i32>(derEnd - q);
  r = x509ParseSpki(q, spkiLen);
  if (r < 0) return r;
  c.spki = q;
  c.spkiLen = spkiLen;
  c.pub = q + <usize>r;
  q += <usize>spkiLen;
  // issuerUniqueID [1], subjectUniqueID [2] (4.1.2.8): skipped.
  if (q < tbsEnd && (load<u8>(q) & 0xdf) == 0x81) {
    r = derNext(q, tbsEnd);
    if (r < 0) return r;
    q = derEnd;
  }
  if (q < tbsEnd && (load<u8>(q) & 0xdf) == 0x82) {
    r = derNext(q, tbsEnd);
    if (r < 0) return r;
    q = derEnd;
  }
  // extensions [3] EXPLICIT Extensions (4.1.2.9)
  if (q < tbsEnd) {
    r = derExpect(q, tbsEnd, Tag.CONTEXT_CONSTRUCTED | 3);
    if (r < 0) return r;
    if (derEnd != tbsEnd) return X509Error.Malformed;
    r = parseExtensions(derVal, tbsEnd, c);
    if (r < 0) return r;
  }
  return 0;
}

/** True when the two Names (TLVs) are the same DER bytes (the comparison used
 *  for chaining here; RFC 5280 7.1 allows more, DER-identical covers issued chains). */
export function nameEquals(a: usize, aLen: i32, b: usize, bLen: i32): bool {
  return aLen == bLen && bytesEqual(a, b, aLen);
}

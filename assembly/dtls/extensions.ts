// Hello extensions (RFC 5246 7.4.1.4): what a ClientHello offers and the
// parser shared by both roles (ClientHello in the server role, ServerHello
// in the client role). The parser fills the module-level ext* results.
import { rdStart, rd8, rd16, rdVec, rdSkip, rdLeft, rdFail, vecPtr, wr8, wr16, wrBytes, wrPos } from "./codec";
import { storeBe16 } from "../util/bytes";
import { DtlsError } from "./alert";

export namespace ExtensionType {
  export const server_name: u32 = 0; // RFC 6066 3
  export const max_fragment_length: u32 = 1; // RFC 6066 4
  export const supported_groups: u32 = 10; // RFC 8422 5.1.1
  export const ec_point_formats: u32 = 11; // RFC 8422 5.1.2
  export const signature_algorithms: u32 = 13; // RFC 5246 7.4.1.4.1
  export const client_certificate_type: u32 = 19; // RFC 7250 3
  export const server_certificate_type: u32 = 20; // RFC 7250 3
  export const encrypt_then_mac: u32 = 22; // RFC 7366 (never used: DTLS rule of this project)
  export const extended_master_secret: u32 = 23; // RFC 7627
  export const session_ticket: u32 = 35; // RFC 5077
  export const connection_id: u32 = 54; // RFC 9146 3
  export const renegotiation_info: u32 = 0xff01; // RFC 5746
}

/** One bit per extension we know, for "offered"/"seen" sets. */
export namespace ExtBit {
  export const ServerName: u32 = 1;
  export const MaxFragmentLength: u32 = 2;
  export const SupportedGroups: u32 = 4;
  export const EcPointFormats: u32 = 8;
  export const SignatureAlgorithms: u32 = 16;
  export const ClientCertificateType: u32 = 32;
  export const ServerCertificateType: u32 = 64;
  export const EncryptThenMac: u32 = 128;
  export const ExtendedMasterSecret: u32 = 256;
  export const SessionTicket: u32 = 512;
  export const RenegotiationInfo: u32 = 1024;
  export const ConnectionId: u32 = 2048;
  /** Any extension we do not know. */
  export const Unknown: u32 = 0x80000000;
}

/** RFC 7250 / IANA TLS Certificate Types. */
export namespace CertificateType {
  export const X509: u32 = 0;
  export const RawPublicKey: u32 = 2;
}

export const NAMED_CURVE_SECP256R1: u32 = 23; // RFC 8422 5.1.1
export const SIG_ECDSA_SECP256R1_SHA256: u32 = 0x0403; // sha256(4), ecdsa(3)
export const POINT_FORMAT_UNCOMPRESSED: u32 = 0;

function extBit(type: u32): u32 {
  switch (type) {
    case ExtensionType.server_name: return ExtBit.ServerName;
    case ExtensionType.max_fragment_length: return ExtBit.MaxFragmentLength;
    case ExtensionType.supported_groups: return ExtBit.SupportedGroups;
    case ExtensionType.ec_point_formats: return ExtBit.EcPointFormats;
    case ExtensionType.signature_algorithms: return ExtBit.SignatureAlgorithms;
    case ExtensionType.client_certificate_type: return ExtBit.ClientCertificateType;
    case ExtensionType.server_certificate_type: return ExtBit.ServerCertificateType;
    case ExtensionType.encrypt_then_mac: return ExtBit.EncryptThenMac;
    case ExtensionType.extended_master_secret: return ExtBit.ExtendedMasterSecret;
    case ExtensionType.session_ticket: return ExtBit.SessionTicket;
    case ExtensionType.renegotiation_info: return ExtBit.RenegotiationInfo;
    case ExtensionType.connection_id: return ExtBit.ConnectionId;
  }
  return ExtBit.Unknown;
}

// ---- writing a ClientHello's extensions ----

function extHeader(type: u32, len: i32): void {
  wr16(type);
  wr16(<u32>len);
}

/** Writes the extensions block (2-byte length + extensions) at wrPos: only
 *  those in `offer`. Values: mfl code (RFC 6066), SNI host name, ticket
 *  (RFC 5077 3.2, may be empty), the certificate type list (RFC 7250; RPK only). */
export function writeClientExtensions(
  offer: u32, mfl: i32, sni: usize, sniLen: i32, ticket: usize, ticketLen: i32, cid: usize, cidLen: i32,
): void {
  const start = wrPos;
  wr16(0);
  if (offer & ExtBit.ServerName) {
    // ServerNameList: NameType host_name(0), HostName<1..2^16-1>
    extHeader(ExtensionType.server_name, sniLen + 5);
    wr16(<u32>sniLen + 3);
    wr8(0);
    wr16(<u32>sniLen);
    wrBytes(sni, sniLen);
  }
  if (offer & ExtBit.MaxFragmentLength) {
    extHeader(ExtensionType.max_fragment_length, 1);
    wr8(<u32>mfl);
  }
  if (offer & ExtBit.SupportedGroups) {
    extHeader(ExtensionType.supported_groups, 4);
    wr16(2);
    wr16(NAMED_CURVE_SECP256R1);
  }
  if (offer & ExtBit.EcPointFormats) {
    extHeader(ExtensionType.ec_point_formats, 2);
    wr8(1);
    wr8(POINT_FORMAT_UNCOMPRESSED);
  }
  if (offer & ExtBit.SignatureAlgorithms) {
    extHeader(ExtensionType.signature_algorithms, 4);
    wr16(2);
    wr16(SIG_ECDSA_SECP256R1_SHA256);
  }
  if (offer & ExtBit.ClientCertificateType) {
    extHeader(ExtensionType.client_certificate_type, 2);
    wr8(1);
    wr8(CertificateType.RawPublicKey);
  }
  if (offer & ExtBit.ServerCertificateType) {
    extHeader(ExtensionType.server_certificate_type, 2);
    wr8(1);
    wr8(CertificateType.RawPublicKey);
  }
  if (offer & ExtBit.SessionTicket) {
    extHeader(ExtensionType.session_ticket, ticketLen);
    wrBytes(ticket, ticketLen);
  }
  if (offer & ExtBit.ExtendedMasterSecret) extHeader(ExtensionType.extended_master_secret, 0);
  if (offer & ExtBit.ConnectionId) writeConnectionId(cid, cidLen);
  storeBe16(start, <u32>(wrPos - start - 2));
}

/** RFC 9146 3: connection_id, opaque cid<0..2^8-1>: the CID the peer is to put in the records it sends us. */
export function writeConnectionId(cid: usize, cidLen: i32): void {
  extHeader(ExtensionType.connection_id, cidLen + 1);
  wr8(<u32>cidLen);
  wrBytes(cid, cidLen);
}

// ---- parsing (either hello) ----
/** Extensions present. */
export let extSeen: u32 = 0;
/** max_fragment_length code (1..4), 0 when absent. */
export let extMfl: i32 = 0;
/** server_name host_name (ClientHello) or empty (ServerHello). */
export let extSniPtr: usize = 0;
export let extSniLen: i32 = 0;
/** session_ticket contents. */
export let extTicketPtr: usize = 0;
export let extTicketLen: i32 = 0;
/** secp256r1 listed in supported_groups; uncompressed in ec_point_formats;
 *  ecdsa_secp256r1_sha256 in signature_algorithms. */
export let extGroupOk: bool = false;
export let extPointFormatOk: bool = false;
export let extSigAlgOk: bool = false;
/** Certificate types: bit (1 << type) per type listed (ClientHello) or chosen (ServerHello). */
export let extClientCertTypes: u32 = 0;
export let extServerCertTypes: u32 = 0;
/** connection_id (RFC 9146 3): the CID the peer wants in the records sent to it. */
export let extCidPtr: usize = 0;
export let extCidLen: i32 = 0;

/** A u16 list<min..max> (2-byte length): true when it contains value. */
function listHas16(value: u32): bool {
  const n = rdVec(2, 2, 0xfffe);
  if ((n & 1) != 0) return false;
  let found = false;
  for (let i = 0; i < n; i += 2) {
    if (((<u32>load<u8>(vecPtr + <usize>i) << 8) | <u32>load<u8>(vecPtr + <usize>i + 1)) == value) found = true;
  }
  return found;
}

/** A u8 list<1..255>: bitmask of the values < 32 it holds. */
function list8Bits(): u32 {
  const n = rdVec(1, 1, 255);
  let bits: u32 = 0;
  for (let i = 0; i < n; i++) {
    const v = <u32>load<u8>(vecPtr + <usize>i);
    if (v < 32) bits |= <u32>1 << v;
  }
  return bits;
}

/** Parse an extensions block (after the 2-byte length has been read, the
 *  len bytes at p). fromServer: ServerHello rules (single certificate type,
 *  empty server_name). Returns 0 or a DtlsError; the results are in ext*. */
export function parseHelloExtensions(p: usize, len: i32, fromServer: bool): i32 {
  extSeen = 0;
  extMfl = 0;
  extSniPtr = 0;
  extSniLen = 0;
  extTicketPtr = 0;
  extTicketLen = 0;
  extGroupOk = false;
  extPointFormatOk = false;
  extSigAlgOk = false;
  extClientCertTypes = 0;
  extServerCertTypes = 0;
  extCidPtr = 0;
  extCidLen = 0;
  let off: i32 = 0;
  while (off < len) {
    if (len - off < 4) return DtlsError.Decode;
    const at = p + <usize>off;
    const type = (<u32>load<u8>(at) << 8) | <u32>load<u8>(at + 1);
    const n = (<i32>load<u8>(at + 2) << 8) | <i32>load<u8>(at + 3);
    if (n > len - off - 4) return DtlsError.Decode;
    const data = at + 4;
    off += 4 + n;
    const bit = extBit(type);
    if (bit != ExtBit.Unknown && (extSeen & bit) != 0) return DtlsError.IllegalExtension; // RFC 5246 7.4.1.4
    extSeen |= bit;
    rdStart(data, n);
    let ok = true;
    if (bit == ExtBit.ServerName) {
      if (n > 0) {
        // ServerNameList<1..2^16-1> of {NameType, HostName<1..2^16-1>}; the first host_name counts
        const listLen = rdVec(2, 1, 0xffff);
        ok = !rdFail && rdLeft() == 0 && !fromServer;
        if (ok) {
          rdStart(vecPtr, listLen);
          while (!rdFail && rdLeft() > 0) {
            const nameType = rd8();
            const l = rdVec(2, 1, 0xffff);
            if (nameType == 0 && extSniLen == 0) {
              extSniPtr = vecPtr;
              extSniLen = l;
            }
          }
        }
      }
    } else if (bit == ExtBit.MaxFragmentLength) {
      extMfl = <i32>rd8();
      ok = extMfl >= 1 && extMfl <= 4;
    } else if (bit == ExtBit.SupportedGroups) {
      extGroupOk = listHas16(NAMED_CURVE_SECP256R1);
    } else if (bit == ExtBit.EcPointFormats) {
      extPointFormatOk = (list8Bits() & (1 << POINT_FORMAT_UNCOMPRESSED)) != 0;
    } else if (bit == ExtBit.SignatureAlgorithms) {
      extSigAlgOk = listHas16(SIG_ECDSA_SECP256R1_SHA256);
    } else if (bit == ExtBit.ClientCertificateType || bit == ExtBit.ServerCertificateType) {
      let types: u32;
      if (fromServer) {
        const t = rd8();
        types = t < 32 ? <u32>1 << t : 0x80000000;
      } else {
        types = list8Bits();
      }
      if (bit == ExtBit.ClientCertificateType) extClientCertTypes = types;
      else extServerCertTypes = types;
    } else if (bit == ExtBit.SessionTicket) {
      extTicketPtr = data;
      extTicketLen = n;
      rdSkip(n);
    } else if (bit == ExtBit.RenegotiationInfo) {
      // RFC 5746 3.4/3.6: renegotiated_connection<0..255> must be empty on an initial handshake
      if (n != 1 || load<u8>(data) != 0) return DtlsError.RenegotiationInfo;
      rdSkip(1);
    } else if (bit == ExtBit.ConnectionId) {
      extCidLen = rdVec(1, 0, 255);
      extCidPtr = vecPtr;
    } else if (bit == ExtBit.Unknown) {
      rdSkip(n);
    }
    // extended_master_secret, encrypt_then_mac: empty
    if (!ok || rdFail || rdLeft() != 0) return DtlsError.IllegalExtension;
  }
  return 0;
}

// Configuration of a DTLS connection. Credentials are referenced, not
// copied: pointers into caller-owned memory (e.g. the LwM2M Security object
// resources) that must stay valid while a connection uses this config.
import { SuiteBit } from "./suites";
import { CertificateType } from "./extensions";

/** The server role is compiled in unless the build defines DTLS_CLIENT_ONLY
 *  (`--use DTLS_CLIENT_ONLY=1`, the firmware: asconfig.json). A compile-time
 *  constant: in a client-only build the server paths of DtlsConnection fold
 *  away, and serverAccept() / serverSupplyPsk() (server.ts) are compile errors. */
// @ts-ignore: compile-time builtin
export const DTLS_SERVER_ROLE: bool = !isDefined(DTLS_CLIENT_ONLY);

export namespace Role {
  export const Client: i32 = 0;
  export const Server: i32 = 1;
}

/** RFC 6066 4 MaxFragmentLength codes: 2^9, 2^10, 2^11, 2^12. */
export namespace MaxFragmentLength {
  export const None: i32 = 0;
  export const L512: i32 = 1;
  export const L1024: i32 = 2;
  export const L2048: i32 = 3;
  export const L4096: i32 = 4;
}

export function mflBytes(code: i32): i32 {
  return code >= 1 && code <= 4 ? 1 << (8 + code) : 16384;
}

export const MAX_PSK_LEN: i32 = 64;
export const MAX_PSK_IDENTITY_LEN: i32 = 0xffff; // RFC 4279 2: psk_identity<0..2^16-1>

@final
export class DtlsConfig {
  role: i32 = Role.Client;
  /** SuiteBit mask of the suites that may be negotiated (preference = bit order). */
  suites: u32 = SuiteBit.All;

  // PSK (DTLS-2/3, SEC-4)
  pskIdentity: usize = 0;
  pskIdentityLen: i32 = 0;
  psk: usize = 0;
  pskLen: i32 = 0;
  /** DTLS-3: the PSK is a low-entropy secret (PIN, password): only ECDHE-PSK. */
  pskLowEntropy: bool = false;

  // ECDSA identity (DTLS-4/5): our private key stays in this SE slot.
  identitySlot: i32 = 0;
  /** Our 65-byte SEC1 uncompressed public key (0 = no ECDSA identity). */
  ownPublicKey: usize = 0;
  /** CertificateType.RawPublicKey (RFC 7250) or CertificateType.X509. */
  certificateType: u32 = CertificateType.RawPublicKey;
  /** X.509: our chain as TLS certificate_list entries (each a 3-byte length + DER), leaf first. */
  ownCertificates: usize = 0;
  ownCertificatesLen: i32 = 0;
  /** X.509, when ownCertificatesLen is 0: our one certificate as plain DER
   *  (e.g. Security resource 3 where it is stored), sent as a one-entry list. */
  ownCertificateDer: usize = 0;
  ownCertificateDerLen: i32 = 0;
  /** RPK (DTLS-4): Security resource 4 in RPK mode, the server's key as a
   *  SubjectPublicKeyInfo, a 65-byte SEC1 point or 64 bytes X||Y; matched exactly. */
  serverPublicKey: usize = 0;
  serverPublicKeyLen: i32 = 0;
  /** X.509 (DTLS-5/6): an x509 TrustConfig (TRUST_CONFIG_SIZE bytes) in caller memory. */
  trust: usize = 0;
  /** Slot for the ephemeral ECDHE key (destroyed right after use). */
  ephemeralSlot: i32 = 8;

  /** server_name (RFC 6066 3); 0 = not sent. */
  serverName: usize = 0;
  serverNameLen: i32 = 0;
  /** max_fragment_length code to offer (RFC 6066 4); MaxFragmentLength.None = none. */
  maxFragmentLength: i32 = MaxFragmentLength.None;
  /** Offer RFC 5077 session tickets. */
  sessionTickets: bool = false;
  /** RFC 9146 connection ID: -1 not offered / not accepted; otherwise the
   *  length (0..32) of the random CID we ask the peer to put in the records
   *  it sends us. Negotiated with CCM_8 suites only (a client offers it only
   *  when every suite it offers is CCM_8; a server accepts it only then). */
  connectionIdLength: i32 = -1;

  /** Largest datagram we send (PMTU minus IP/UDP headers). */
  mtu: i32 = 1152;
  /** Caller memory for the datagram being built (at least mtu bytes, or one
   *  largest MFL record when that is smaller); 0 = the connection's own.
   *  Connections may share one: the caller then drains pollTransmit() after
   *  every call into a connection, before it calls into another. A connection
   *  does not write while another one's records wait in it (Busy, or nothing
   *  to send yet). */
  txBuffer: usize = 0;
  /** Largest handshake message accepted (certificate chains need more). This
   *  and flightBufferSize are read at construction and by growBuffers(). */
  handshakeBufferSize: i32 = 768;
  /** Room for our own flight (client certificate chains need more). */
  flightBufferSize: i32 = 512;
  /** Room for a session ticket. */
  ticketCapacity: i32 = 256;

  // RFC 6347 4.2.4 timer with the RFC 7925 11 values.
  retransmitInitialMs: i64 = 9000;
  retransmitMaxMs: i64 = 60000;
  maxRetransmissions: i32 = 4;

  // DTLS-10 limits
  /** Close before our record sequence number reaches this (RFC 6347 4.1: 2^48 - 1). */
  maxRecordSequence: u64 = 0xffff00000000;
  /** Close this long after the session's full handshake (0 = no limit). */
  maxSessionAgeMs: i64 = 86400000;
  /** Close the connection after this many records failed authentication
   *  (RFC 9147 4.5.3 gives 2^7 for AES-128-CCM-8). */
  maxAuthFailures: i32 = 128;

  // ---- server role ----
  // PSK: with psk set, only that identity is accepted; without, every
  // identity goes to the host (DtlsEvent.PskIdentity, serverSupplyPsk()).
  // ECDSA: ownPublicKey / identitySlot / certificateType / ownCertificates
  // are what we present. Client authentication (CertificateRequest) when
  // verifyPeer: RPK: serverPublicKey is the one accepted client key, 0 = any
  // P-256 key (the host decides from peerCertificate()); X.509: the client's
  // chain must validate to an anchor of the TrustConfig's store (clientAuth
  // purpose, flags as configured).
  /** Server: ask for and require a client certificate / RPK in the ECDSA suites. */
  verifyPeer: bool = true;
  /** Server: answer a ClientHello without a valid cookie with a HelloVerifyRequest (RFC 6347 4.2.1). */
  helloVerify: bool = true;
  /** Server: room for a copy of the client's leaf certificate (X.509) or SPKI (RPK) for the host. */
  peerCertificateCapacity: i32 = 0;

  /** Expose the NSS key log line (only when explicitly enabled, before the
   *  connection is constructed: its buffer exists only then). */
  keyLog: bool = false;

  /**
   * Forgets the credentials and the peer's identity (PSK and identity, own
   * key and certificates, server key, trust, server name) before the config
   * is set up for another account or peer; suites, slots, buffers and limits stay.
   */
  clearCredentials(): void {
    this.psk = 0;
    this.pskLen = 0;
    this.pskIdentity = 0;
    this.pskIdentityLen = 0;
    this.pskLowEntropy = false;
    this.ownPublicKey = 0;
    this.ownCertificates = 0;
    this.ownCertificatesLen = 0;
    this.ownCertificateDer = 0;
    this.ownCertificateDerLen = 0;
    this.serverPublicKey = 0;
    this.serverPublicKeyLen = 0;
    this.trust = 0;
    this.serverName = 0;
    this.serverNameLen = 0;
  }
}

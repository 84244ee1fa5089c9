// The five cipher suites (DTLS-2/3/4/5) and what each implies. A suite is
// handled as one bit of a mask (config, negotiation); the preference order
// in a ClientHello is the bit order.

export namespace CipherSuite {
  export const TLS_PSK_WITH_AES_128_CCM_8: u32 = 0xc0a8; // RFC 6655
  export const TLS_PSK_WITH_AES_128_CBC_SHA256: u32 = 0x00ae; // RFC 5487
  export const TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256: u32 = 0xc037; // RFC 5489
  export const TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8: u32 = 0xc0ae; // RFC 7251
  export const TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: u32 = 0xc023; // RFC 5289
  export const TLS_EMPTY_RENEGOTIATION_INFO_SCSV: u32 = 0x00ff; // RFC 5746 3.3
}

export namespace SuiteBit {
  export const PskCcm8: u32 = 1;
  export const PskCbc: u32 = 2;
  export const EcdhePskCbc: u32 = 4;
  export const EcdsaCcm8: u32 = 8;
  export const EcdsaCbc: u32 = 16;
  export const All: u32 = 31;
  /** Plain PSK suites: forbidden with a low-entropy secret (DTLS-3). */
  export const PlainPsk: u32 = 3;
  /** Suites that use the PSK. */
  export const AnyPsk: u32 = 7;
  /** Suites authenticated by ECDSA (RPK or X.509). */
  export const Ecdsa: u32 = 24;
  /** Suites with an ephemeral ECDH exchange. */
  export const Ecdhe: u32 = 28;
  export const Ccm8: u32 = 9;
}

export const SUITE_COUNT: i32 = 5;

/** The IANA code of suite bit index i (0..4). */
export function suiteCode(index: i32): u32 {
  switch (index) {
    case 0: return CipherSuite.TLS_PSK_WITH_AES_128_CCM_8;
    case 1: return CipherSuite.TLS_PSK_WITH_AES_128_CBC_SHA256;
    case 2: return CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256;
    case 3: return CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8;
    case 4: return CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256;
  }
  return 0;
}

/** The SuiteBit of an IANA code, 0 when not one of ours. */
export function suiteBit(code: u32): u32 {
  for (let i: i32 = 0; i < SUITE_COUNT; i++) if (suiteCode(i) == code) return <u32>1 << i;
  return 0;
}

/** Record protection of a suite. */
export namespace Protection {
  export const Null: i32 = 0;
  export const Ccm8: i32 = 1; // RFC 6655 / RFC 7251 AES-128-CCM, 8-byte tag
  export const CbcSha256: i32 = 2; // RFC 5246 6.2.3.2 AES-128-CBC + HMAC-SHA256
}

export function suiteProtection(bit: u32): i32 {
  return (bit & SuiteBit.Ccm8) != 0 ? Protection.Ccm8 : Protection.CbcSha256;
}

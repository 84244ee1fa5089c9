// `gnutls-serv --udp` on a free port (it binds every address; the client
// talks to 127.0.0.1). Ready when it prints "listening on IPv4". A fresh
// server per test (its DTLS state does not survive a client going away).
import { writeFileSync } from "node:fs";
import { generateKeyPairSync } from "node:crypto";
import { publicPoint } from "./dtls-harness";
import { startPeer, type PeerProcess } from "./openssl-peer";

/** Priority strings that work with gnutls 3.7 for the suites of this project. */
export const GnutlsPriority = {
  PskCcm8: "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK:-CIPHER-ALL:+AES-128-CCM-8:-MAC-ALL:+AEAD",
  PskCbc: "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK:-CIPHER-ALL:+AES-128-CBC:-MAC-ALL:+SHA256",
  EcdhePskCbc: "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+ECDHE-PSK:-CIPHER-ALL:+AES-128-CBC:-MAC-ALL:+SHA256:-GROUP-ALL:+GROUP-SECP256R1",
  /** RFC 7250 raw public keys both ways, ECDHE-ECDSA CCM-8. */
  RpkCcm8: "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+ECDHE-ECDSA:-CIPHER-ALL:+AES-128-CCM-8:-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-SECP256R1:-CTYPE-CLI-ALL:-CTYPE-SRV-ALL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK",
  RpkCbc: "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+ECDHE-ECDSA:-CIPHER-ALL:+AES-128-CBC:-MAC-ALL:+SHA256:-GROUP-ALL:+GROUP-SECP256R1:-CTYPE-CLI-ALL:-CTYPE-SRV-ALL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK",
} as const;

/** gnutls-serv --udp -p PORT --echo <args>. */
export function startGnutlsServer(args: string[]): Promise<PeerProcess> {
  return startPeer("gnutls-serv", ["--udp", "-p", "{PORT}", "--echo", ...args], /listening on IPv4/);
}

/** A gnutls PSK password file ("identity:hexkey") at path. */
export function writePskFile(path: string, identity: string, key: Uint8Array): string {
  writeFileSync(path, `${identity}:${Buffer.from(key).toString("hex")}\n`);
  return path;
}

/** A fresh P-256 key pair as PEM files (base.key PKCS#8, base.pub SPKI) + its SPKI DER and 65-byte point. */
export function p256Files(base: string) {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const pubPem = publicKey.export({ type: "spki", format: "pem" }) as string;
  writeFileSync(`${base}.key`, keyPem);
  writeFileSync(`${base}.pub`, pubPem);
  return { keyFile: `${base}.key`, pubFile: `${base}.pub`, keyPem, spki: new Uint8Array(publicKey.export({ type: "spki", format: "der" })), point: publicPoint(pubPem) };
}

// libcoap 4.3.1's `coap-server-gnutls` as a CoAP-over-DTLS peer: PSK (-k/-h),
// PKI (-c/-j/-C) or RPK (-M). It listens on -p PORT for CoAP and PORT+1 for
// CoAPS; ready once the plain port answers a CoAP ping. Optionally restricted
// by a GnuTLS system priority override (GNUTLS_SYSTEM_PRIORITY_FILE), which
// libcoap cannot do itself (it negotiates ChaCha20 when a client offers it).
import { spawn } from "node:child_process";
import dgram from "node:dgram";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PeerProcess } from "./openssl-peer";

export const COAP_SERVER_GNUTLS = "coap-server-gnutls";

export type CoapDtlsCredentials =
  | { psk: { key: string; hint?: string } }
  | { pki: { certFile: string; keyFile: string; caFile: string } }
  | { rpk: { keyFile: string } };

export interface CoapGnutlsServer {
  peer: PeerProcess;
  /** Plain CoAP port; CoAPS is dtlsPort = port + 1. */
  port: number;
  dtlsPort: number;
  stop(): Promise<void>;
}

async function udpFree(port: number): Promise<boolean> {
  const s = dgram.createSocket("udp4");
  const ok = await new Promise<boolean>((res) => {
    s.once("error", () => res(false));
    s.bind(port, "127.0.0.1", () => res(true));
  });
  await new Promise<void>((res) => { try { s.close(() => res()); } catch { res(); } });
  return ok;
}

/** A port p with p and p+1 free on 127.0.0.1 (a small race is accepted). */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    if ((await udpFree(p)) && (await udpFree(p + 1))) return p;
  }
  throw new Error("no free UDP port pair");
}

/**
 * A GnuTLS system-priority override that disables every cipher but the ones
 * this project implements (GnuTLS 3.7 `[overrides] tls-disabled-cipher`).
 */
export function writeGnutlsPriorityOverride(path: string): string {
  const disabled = ["CHACHA20-POLY1305", "AES-256-GCM", "AES-128-GCM", "AES-256-CCM", "AES-128-CCM", "AES-256-CCM-8",
    "AES-256-CBC", "CAMELLIA-256-GCM", "CAMELLIA-128-GCM", "CAMELLIA-256-CBC", "CAMELLIA-128-CBC", "3DES-CBC"];
  writeFileSync(path, "[overrides]\n" + disabled.map((c) => `tls-disabled-cipher = ${c}\n`).join(""));
  return path;
}

export async function startCoapGnutlsServer(creds: CoapDtlsCredentials, o: { priorityFile?: string; extra?: string[] } = {}): Promise<CoapGnutlsServer> {
  const port = await freePortPair();
  const args = ["-A", "127.0.0.1", "-p", String(port)];
  if ("psk" in creds) args.push("-k", creds.psk.key, "-h", creds.psk.hint ?? "CoAP");
  else if ("pki" in creds) args.push("-c", creds.pki.certFile, "-j", creds.pki.keyFile, "-C", creds.pki.caFile);
  else args.push("-M", creds.rpk.keyFile);
  args.push(...(o.extra ?? []));
  const env = { ...process.env };
  if (o.priorityFile) env.GNUTLS_SYSTEM_PRIORITY_FILE = o.priorityFile;
  const proc = spawn(COAP_SERVER_GNUTLS, args, { stdio: ["pipe", "pipe", "pipe"], env });
  const peer = new PeerProcess(proc, port + 1, [COAP_SERVER_GNUTLS, ...args].join(" "));
  // ready: the plain port answers an empty CON (CoAP ping) with a Reset
  const sock = dgram.createSocket("udp4");
  try {
    await new Promise<void>((res) => sock.bind(0, "127.0.0.1", () => res()));
    for (let i = 0; ; i++) {
      if (peer.exited !== null) throw new Error(`${peer.commandLine} exited (${peer.exited}): ${peer.output}`);
      if (i === 100) { await peer.stop(); throw new Error(`${peer.commandLine} did not come up: ${peer.output}`); }
      const got = new Promise<boolean>((res) => {
        const t = setTimeout(() => res(false), 50);
        sock.once("message", () => { clearTimeout(t); res(true); });
      });
      sock.send(Buffer.from([0x40, 0x00, 0x12, i]), port, "127.0.0.1");
      if (await got) break;
    }
  } finally {
    sock.removeAllListeners("message");
    await new Promise<void>((res) => sock.close(() => res()));
  }
  return { peer, port, dtlsPort: port + 1, stop: () => peer.stop() };
}

/** The module the probe tests run: build/probe.wasm, the one `lwm2m-wasm probe` runs (the firmware's
 *  probe built like the release, scripts/build.mjs buildProbe). */
export function probeWasm(): string {
  return join(__dirname, "..", "..", "build", "probe.wasm");
}

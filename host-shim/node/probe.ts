// `npx lwm2m-wasm probe coaps://HOST:PORT/PATH ...`: runs the firmware's
// probe (assembly/probe/probe.ts, built like the firmware release into its
// own module build/probe.wasm: the device does not carry it) with the Node host
// services: one DTLS 1.2 handshake and one CoAP GET, then prints the
// negotiated suite, the response and the bytes on the wire. Any failure exits
// non-zero with the precise reason (see EXIT below).
import { LogDictionary } from "./log-dictionary";
import { readFileSync, writeFileSync, appendFileSync, existsSync } from "node:fs";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { createHostImports, systemClock, FirmwareFatal } from "./host";
import { DeviceRng } from "./drbg";
import { SimulatedSecureElement } from "./se";
import { NorFlash } from "./flash";
import { UdpNet } from "./net";

const ROOT = join(__dirname, "..", "..");
/** The probe module (scripts/build.mjs buildProbe: the firmware's DTLS and CoAP code, release flags). */
export const PROBE_WASM = join(ROOT, "build", "probe.wasm");

export const PROBE_USAGE = `usage: lwm2m-wasm probe URI [credentials] [options]

  URI                      coaps://HOST:PORT/PATH (DTLS 1.2), or coap://HOST:PORT/PATH (NoSec)
                           (default ports 5684 / 5683; PATH may be empty)
credentials (one mode for coaps://):
  --psk-identity ID --psk-key HEX [--low-entropy]
                           PSK; --low-entropy: the key is a PIN/password (only ECDHE-PSK, DTLS-3)
  --rpk-key FILE --server-rpk FILE
                           raw public keys (RFC 7250): our P-256 private key (PEM), the server's
                           public key (PEM/DER SPKI; a PEM holding its private key works too)
  --cert FILE --key FILE --ca FILE [--cert-usage N] [--server-cert FILE]
  --cert FILE --key FILE --cert-usage 3 --server-cert FILE
                           X.509: our certificate (PEM, leaf first) and key; --ca: trust anchor(s);
                           --cert-usage (LwM2M Certificate Usage, default 2): 0 CA constraint,
                           1 service certificate constraint, 2 trust anchor assertion,
                           3 domain-issued certificate (direct trust); Security resource 4 is the
                           first --ca certificate, or --server-cert for usages 1 and 3
options:
  --cipher NAME            PSK-AES128-CCM8, PSK-AES128-CBC-SHA256, ECDHE-PSK-AES128-CBC-SHA256,
                           ECDHE-ECDSA-AES128-CCM8, ECDHE-ECDSA-AES128-SHA256 (comma-separated list;
                           default: every suite the credentials allow)
  --mfl 512|1024|2048|4096 offer max_fragment_length (RFC 6066)
  --sni NAME               server_name (also the name checked in the certificate)
  --keylog FILE            append the NSS key log line (CLIENT_RANDOM ...) for Wireshark/tshark
  --timeout S              give up after S seconds (default 60)
  --ack-timeout MS         CoAP ACK_TIMEOUT (RFC 7252 4.8, default 2000; 4 retransmissions)
  --resume                 two connections: the first's session (ID or RFC 5077 ticket) is resumed by
                           the second with an abbreviated handshake, whether or not the first GET got
                           an answer (the first waits one --ack-timeout for it); the figures are the
                           second connection's
  --verbose                firmware log lines
exit status: 0 2.xx response; 2 usage; 3 DTLS failure; 4 CoAP timeout / reset; 5 --timeout;
             6 response code not 2.xx; 7 --resume: the second connection did not resume;
             1 other (module without the probe, firmware fault)`;

export const EXIT = { Ok: 0, Other: 1, Usage: 2, Dtls: 3, Coap: 4, Timeout: 5, Response: 6, NotResumed: 7 } as const;

/** OpenSSL-style names -> SuiteBit (assembly/dtls/suites.ts) and IANA names. */
export const CIPHERS: Record<string, { bit: number; code: number; iana: string }> = {
  "PSK-AES128-CCM8": { bit: 1, code: 0xc0a8, iana: "TLS_PSK_WITH_AES_128_CCM_8" },
  "PSK-AES128-CBC-SHA256": { bit: 2, code: 0x00ae, iana: "TLS_PSK_WITH_AES_128_CBC_SHA256" },
  "ECDHE-PSK-AES128-CBC-SHA256": { bit: 4, code: 0xc037, iana: "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256" },
  "ECDHE-ECDSA-AES128-CCM8": { bit: 8, code: 0xc0ae, iana: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8" },
  "ECDHE-ECDSA-AES128-SHA256": { bit: 16, code: 0xc023, iana: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" },
};
const MFL: Record<string, number> = { "512": 1, "1024": 2, "2048": 3, "4096": 4 };

/** The probe's exports (assembly/probe/probe.ts). */
const PROBE_EXPORTS = [
  "probe_reset", "probe_input", "probe_set_target", "probe_set_psk", "probe_import_key", "probe_add_own_certificate",
  "probe_set_server_rpk", "probe_set_trust", "probe_add_anchor", "probe_set_suites", "probe_set_mfl", "probe_set_sni",
  "probe_set_key_log", "probe_set_dtls_timers", "probe_set_coap_timers", "probe_start", "probe_rx_buffer", "probe_datagram", "probe_timer",
  "probe_finish", "probe_state", "probe_failure", "probe_dtls_reason", "probe_stat",
];

// ---- names of the firmware's codes, read from the sources (one source of truth) ----
function namespaceOf(file: string, ns: string): Map<number, string> {
  const out = new Map<number, string>();
  try {
    const src = readFileSync(join(ROOT, file), "utf8");
    const start = src.search(new RegExp(`namespace ${ns} \\{`));
    if (start < 0) return out;
    const body = src.slice(start, src.indexOf("\n}", start));
    for (const m of body.matchAll(/export const (\w+): (?:i32|u8|u32) = (-?\d+|0x[0-9a-f]+)/gi)) out.set(Number(m[2]), m[1]);
  } catch { /* installed without the sources: numbers only */ }
  return out;
}
const names = {
  probe: namespaceOf("assembly/probe/probe.ts", "ProbeError"),
  dtls: namespaceOf("assembly/dtls/alert.ts", "DtlsError"),
  alert: namespaceOf("assembly/dtls/alert.ts", "AlertDescription"),
  x509: namespaceOf("assembly/x509/cert.ts", "X509Error"),
};
const nameOf = (m: Map<number, string>, v: number, what: string) => m.get(v) ?? `${what}(${v})`;

const COAP_CODES: Record<number, string> = {
  0x41: "Created", 0x42: "Deleted", 0x43: "Valid", 0x44: "Changed", 0x45: "Content", 0x5f: "Continue",
  0x80: "Bad Request", 0x81: "Unauthorized", 0x82: "Bad Option", 0x83: "Forbidden", 0x84: "Not Found",
  0x85: "Method Not Allowed", 0x86: "Not Acceptable", 0x88: "Request Entity Incomplete", 0x8c: "Precondition Failed",
  0x8d: "Request Entity Too Large", 0x8f: "Unsupported Content-Format", 0xa0: "Internal Server Error",
  0xa1: "Not Implemented", 0xa2: "Bad Gateway", 0xa3: "Service Unavailable", 0xa4: "Gateway Timeout",
  0xa5: "Proxying Not Supported",
};
export const coapCodeText = (c: number) => `${c >> 5}.${String(c & 31).padStart(2, "0")}${COAP_CODES[c] ? " " + COAP_CODES[c] : ""}`;
const FORMATS: Record<number, string> = { 0: "text/plain", 40: "application/link-format", 42: "application/octet-stream",
  50: "application/json", 60: "application/cbor", 110: "application/senml+json", 112: "application/senml+cbor",
  11542: "application/vnd.oma.lwm2m+tlv", 11543: "application/vnd.oma.lwm2m+json" };

// ---- arguments -------------------------------------------------------------------
class UsageError extends Error {}

export interface ProbeArgs {
  scheme: "coap" | "coaps";
  host: string;
  port: number;
  path: string;
  psk?: { identity: Uint8Array; key: Uint8Array; lowEntropy: boolean };
  rpk?: { key: Uint8Array; server: Uint8Array };
  x509?: { certs: Uint8Array[]; key: Uint8Array; anchors: Uint8Array[]; usage: number; resource4: Uint8Array };
  suites: number;
  mfl: number;
  sni?: string;
  keylog?: string;
  timeoutS: number;
  ackTimeoutMs: number;
  verbose: boolean;
  wasm?: string;
  /** Two connections: the second resumes the first one's session (DTLS-10). */
  resume?: boolean;
}

const VALUE_FLAGS = new Set(["--psk-identity", "--psk-key", "--rpk-key", "--server-rpk", "--cert", "--key", "--ca",
  "--cert-usage", "--server-cert", "--cipher", "--ack-timeout", "--mfl", "--sni", "--keylog", "--timeout", "--wasm"]);
const BOOL_FLAGS = new Set(["--low-entropy", "--verbose", "--resume", "--help", "-h"]);

function pemBlocks(text: string, label: string): Uint8Array[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, "g");
  return [...text.matchAll(re)].map((m) => new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64")));
}
function readFile(file: string, what: string): Buffer {
  try { return readFileSync(file); } catch (e) { throw new UsageError(`${what} ${file}: ${(e as Error).message}`); }
}
/** Certificates of a PEM (one or more) or DER file. */
function readCertificates(file: string, what: string): Uint8Array[] {
  const data = readFile(file, what);
  const pem = data.toString("latin1");
  const certs = pem.includes("-----BEGIN") ? pemBlocks(pem, "CERTIFICATE") : [new Uint8Array(data)];
  if (certs.length === 0) throw new UsageError(`${what} ${file}: no certificate in it`);
  for (const c of certs) {
    try { new X509Certificate(c); } catch { throw new UsageError(`${what} ${file}: not an X.509 certificate`); }
  }
  return certs;
}
/** The 32-byte scalar of a P-256 private key file (PEM/DER, SEC1 or PKCS#8). */
function readPrivateScalar(file: string, what: string): Uint8Array {
  const data = readFile(file, what);
  let jwk: { crv?: string; d?: string };
  try {
    const key = data.includes("-----BEGIN") ? createPrivateKey(data)
      : createPrivateKey({ key: data, format: "der", type: data[4] === 0x02 ? "pkcs8" : "sec1" });
    jwk = key.export({ format: "jwk" }) as typeof jwk;
  } catch { throw new UsageError(`${what} ${file}: not a private key`); }
  if (jwk.crv !== "P-256" || !jwk.d) throw new UsageError(`${what} ${file}: not a P-256 private key`);
  return new Uint8Array(Buffer.from(jwk.d, "base64url"));
}
/** A public key as SPKI DER (PEM/DER SPKI, or the public half of a private key file). */
function readPublicSpki(file: string, what: string): Uint8Array {
  const data = readFile(file, what);
  try {
    const key = data.includes("-----BEGIN") ? createPublicKey(data) : createPublicKey({ key: data, format: "der", type: "spki" });
    return new Uint8Array(key.export({ format: "der", type: "spki" }));
  } catch { throw new UsageError(`${what} ${file}: not a public key`); }
}

export function parseProbeArgs(argv: string[]): ProbeArgs {
  const opts = new Map<string, string>();
  const bools = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (VALUE_FLAGS.has(a)) {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      opts.set(a, argv[++i]);
    } else if (BOOL_FLAGS.has(a)) bools.add(a);
    else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`);
    else positional.push(a);
  }
  if (bools.has("--help") || bools.has("-h")) throw new UsageError("");
  if (positional.length !== 1) throw new UsageError(positional.length ? `one URI expected, got: ${positional.join(" ")}` : "no URI given");
  const m = positional[0].match(/^(coaps?):\/\/(\[[0-9a-fA-F:.]+\]|[^/:?#\[\]]+)(?::(\d+))?(\/[^?#]*)?$/);
  if (!m) throw new UsageError(`not a coap:// or coaps:// URI: ${positional[0]}`);
  const scheme = m[1] as "coap" | "coaps";
  const port = m[3] ? Number(m[3]) : scheme === "coaps" ? 5684 : 5683;
  if (!(port > 0 && port < 65536)) throw new UsageError(`bad port in ${positional[0]}`);
  const path = decodeURIComponent((m[4] ?? "/").slice(1));
  const out: ProbeArgs = {
    scheme, host: m[2], port, path, suites: 31, mfl: 0, timeoutS: 60, ackTimeoutMs: 2000, verbose: bools.has("--verbose"), resume: bools.has("--resume"),
    sni: opts.get("--sni"), keylog: opts.get("--keylog"), wasm: opts.get("--wasm"),
  };
  if (opts.has("--timeout")) {
    out.timeoutS = Number(opts.get("--timeout"));
    if (!(out.timeoutS > 0)) throw new UsageError(`--timeout: not a positive number of seconds: ${opts.get("--timeout")}`);
  }
  if (opts.has("--ack-timeout")) {
    out.ackTimeoutMs = Number(opts.get("--ack-timeout"));
    if (!(Number.isInteger(out.ackTimeoutMs) && out.ackTimeoutMs > 0)) throw new UsageError(`--ack-timeout: milliseconds expected`);
  }
  if (opts.has("--mfl")) {
    const v = MFL[opts.get("--mfl")!];
    if (!v) throw new UsageError(`--mfl must be 512, 1024, 2048 or 4096`);
    out.mfl = v;
  }
  if (opts.has("--cipher")) {
    out.suites = 0;
    for (const n of opts.get("--cipher")!.split(",")) {
      const c = CIPHERS[n.trim().toUpperCase()];
      if (!c) throw new UsageError(`--cipher: unknown suite ${n} (one of ${Object.keys(CIPHERS).join(", ")})`);
      out.suites |= c.bit;
    }
  }
  const modes = [opts.has("--psk-identity") || opts.has("--psk-key"), opts.has("--rpk-key") || opts.has("--server-rpk"),
    opts.has("--cert") || opts.has("--key") || opts.has("--ca") || opts.has("--server-cert")].filter(Boolean).length;
  if (scheme === "coap") {
    if (out.resume) throw new UsageError("--resume needs coaps:// (a DTLS session)");
    if (modes) throw new UsageError("coap:// is NoSec: credentials need coaps://");
    return out;
  }
  if (modes !== 1) throw new UsageError(modes ? "give one credential mode (PSK, RPK or X.509)" : "coaps:// needs credentials: --psk-identity/--psk-key, --rpk-key/--server-rpk or --cert/--key/--ca");
  if (opts.has("--psk-identity") || opts.has("--psk-key")) {
    const id = opts.get("--psk-identity"), key = opts.get("--psk-key");
    if (id === undefined || key === undefined) throw new UsageError("PSK needs both --psk-identity and --psk-key");
    if (!/^([0-9a-fA-F]{2})+$/.test(key)) throw new UsageError("--psk-key: hex bytes expected");
    if (key.length / 2 > 64) throw new UsageError("--psk-key: at most 64 bytes");
    out.psk = { identity: new Uint8Array(Buffer.from(id, "utf8")), key: new Uint8Array(Buffer.from(key, "hex")), lowEntropy: bools.has("--low-entropy") };
  } else if (opts.has("--rpk-key") || opts.has("--server-rpk")) {
    if (!opts.has("--rpk-key") || !opts.has("--server-rpk")) throw new UsageError("RPK needs both --rpk-key and --server-rpk");
    out.rpk = { key: readPrivateScalar(opts.get("--rpk-key")!, "--rpk-key"), server: readPublicSpki(opts.get("--server-rpk")!, "--server-rpk") };
  } else {
    if (!opts.has("--cert") || !opts.has("--key") || !(opts.has("--ca") || opts.has("--server-cert"))) {
      throw new UsageError("X.509 needs --cert, --key and --ca (or --server-cert with --cert-usage 3)");
    }
    const usage = opts.has("--cert-usage") ? Number(opts.get("--cert-usage")) : 2;
    if (![0, 1, 2, 3].includes(usage)) throw new UsageError("--cert-usage must be 0, 1, 2 or 3");
    if (usage !== 3 && !opts.has("--ca")) throw new UsageError(`--cert-usage ${usage} needs --ca`);
    const anchors = opts.has("--ca") ? readCertificates(opts.get("--ca")!, "--ca") : [];
    const resource4 = opts.has("--server-cert") ? readCertificates(opts.get("--server-cert")!, "--server-cert")[0] : anchors[0];
    out.x509 = { certs: readCertificates(opts.get("--cert")!, "--cert"), key: readPrivateScalar(opts.get("--key")!, "--key"), anchors, usage, resource4 };
  }
  if (bools.has("--low-entropy") && !out.psk) throw new UsageError("--low-entropy applies to PSK only");
  // DTLS-3: a low-entropy secret goes with ECDHE-PSK only (an explicit --cipher is left to the firmware to refuse).
  if (out.psk?.lowEntropy && !opts.has("--cipher")) out.suites = CIPHERS["ECDHE-PSK-AES128-CBC-SHA256"].bit;
  return out;
}

// ---- the run -----------------------------------------------------------------------
export interface ProbeResult {
  exitCode: number;
  /** The reason line (failure) or "ok". */
  reason: string;
  suite?: string;
  code?: number;
  payload?: Uint8Array;
  stats?: { bytesSent: number; bytesReceived: number; datagramsSent: number; datagramsReceived: number };
  keyLogLine?: string;
  /** --resume: the second connection resumed the first one's session. */
  resumed?: boolean;
}

type Exports = Record<string, any> & { memory: WebAssembly.Memory };

/** Runs one probe; `print` gets the human-readable lines. */
export async function probe(a: ProbeArgs, print: (line: string) => void = () => {}): Promise<ProbeResult> {
  const file = a.wasm ?? process.env.LWM2M_PROBE_WASM ?? PROBE_WASM;
  if (!existsSync(file)) return { exitCode: EXIT.Other, reason: `no firmware at ${file}: run 'npm run build' first` };
  const bytes = readFileSync(file);
  const module = new WebAssembly.Module(bytes);
  const logDictionary = LogDictionary.forModule(file, bytes);
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = PROBE_EXPORTS.filter((n) => !exported.has(n));
  if (missing.length) {
    return { exitCode: EXIT.Other, reason: `${file} has no probe (missing exports: ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", ..." : ""}); ` +
      `the probe module is assembly/probe/probe.ts built into ${PROBE_WASM} — rebuild with 'npm run build'` };
  }
  let memory!: WebAssembly.Memory;
  let x!: Exports;
  const now = () => systemClock.monotonicMs();
  let fatal: FirmwareFatal | null = null;
  const net = new UdpNet((_peer, data) => {
    if (fatal) return;
    const cap = x.probe_rx_capacity?.() ?? 1536;
    if (data.length > cap) return;
    new Uint8Array(memory.buffer).set(data, x.probe_rx_buffer());
    step(() => x.probe_datagram(data.length, BigInt(now())));
  });
  const se = new SimulatedSecureElement();
  const imports = createHostImports({
    rng: new DeviceRng(), se, flash: new NorFlash(), net, clock: systemClock, logDictionary,
    log: (level, text) => { if (a.verbose) print(`[${["error", "warn", "info", "debug"][level] ?? level}] ${text}`); },
    fatal: (code, line) => { throw new FirmwareFatal(code, line); },
  }, () => memory);
  const env = { abort: () => { throw new FirmwareFatal(1, 0); } };
  const instance = new WebAssembly.Instance(module, { ...imports, env });
  x = instance.exports as Exports;
  memory = x.memory;
  x._initialize?.();

  const view = () => new Uint8Array(memory.buffer);
  /** Stage bytes in the probe's input area and call a setter with (ptr, len). */
  const put = (b: Uint8Array) => {
    if (b.length > x.probe_input_capacity()) throw new UsageError(`input of ${b.length} bytes is too large for the probe`);
    const p = x.probe_input();
    view().set(b, p);
    return p;
  };
  const check = (r: number, what: string) => { if (r !== 0) throw new UsageError(`${what} refused by the firmware (${nameOf(names.probe, r, "ProbeError")})`); };
  const enc = new TextEncoder();

  let timer: NodeJS.Timeout | undefined;
  let done!: () => void;
  let finished = new Promise<void>((res) => { done = res; });
  /** --resume, first connection: ends one ACK timeout after the GET went out, answered or not. */
  let firstLeg = false;
  let legTimer: NodeJS.Timeout | undefined;
  const step = (f: () => bigint) => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    let d: number;
    try { d = Number(f()); } catch (e) {
      if (e instanceof FirmwareFatal) { fatal = e; done(); return; }
      throw e;
    }
    const st = x.probe_state();
    if (st === 3 || st === 4) { done(); return; }
    if (firstLeg && st === 2 && !legTimer) legTimer = setTimeout(() => done(), a.ackTimeoutMs);
    if (d >= 0) timer = setTimeout(() => step(() => x.probe_timer(BigInt(now()))), Math.max(0, d - now()));
  };

  try {
    x.probe_reset();
    // target: the host is passed without IPv6 brackets (UdpNet accepts both)
    const host = enc.encode(a.host.replace(/^\[|\]$/g, ""));
    const path = enc.encode(a.path);
    if (host.length + path.length > x.probe_input_capacity()) throw new UsageError("host/path too long");
    const hp = x.probe_input();
    view().set(host, hp);
    view().set(path, hp + host.length);
    check(x.probe_set_target(hp, host.length, a.port, hp + host.length, path.length, a.scheme === "coap" ? 1 : 0), "target");
    if (a.psk) {
      const id = a.psk.identity, key = a.psk.key;
      const p = x.probe_input();
      view().set(id, p);
      view().set(key, p + id.length);
      check(x.probe_set_psk(p, id.length, p + id.length, key.length, a.psk.lowEntropy ? 1 : 0), "PSK");
      key.fill(0);
    }
    if (a.rpk) {
      check(x.probe_import_key(put(a.rpk.key), a.rpk.key.length), "own key import into the SE");
      a.rpk.key.fill(0);
      check(x.probe_set_server_rpk(put(a.rpk.server), a.rpk.server.length), "--server-rpk");
    }
    if (a.x509) {
      check(x.probe_import_key(put(a.x509.key), a.x509.key.length), "own key import into the SE");
      a.x509.key.fill(0);
      for (const c of a.x509.certs) check(x.probe_add_own_certificate(put(c), c.length), "--cert");
      check(x.probe_set_trust(put(a.x509.resource4), a.x509.resource4.length, a.x509.usage, 0), "--ca / --server-cert");
      for (const c of a.x509.anchors) check(x.probe_add_anchor(put(c), c.length), "--ca");
    }
    x.probe_set_suites(a.suites);
    if (a.mfl) check(x.probe_set_mfl(a.mfl), "--mfl");
    if (a.sni) { const s = enc.encode(a.sni); check(x.probe_set_sni(put(s), s.length), "--sni"); }
    if (a.keylog) x.probe_set_key_log(1);
    if (a.resume) x.probe_set_resume(1);
    // A command-line tool on a live network: first retransmission after 1 s (RFC 6347 4.2.4.1 allows it), 4 of them.
    x.probe_set_dtls_timers(1000n, 8000n, 4);
    x.probe_set_coap_timers(BigInt(a.ackTimeoutMs), 4);
  } catch (e) {
    net.closeAll();
    if (e instanceof UsageError) return { exitCode: EXIT.Usage, reason: e.message };
    throw e;
  }

  let t0 = now();
  let timedOut = false;
  const overall = setTimeout(() => { timedOut = true; done(); }, a.timeoutS * 1000);
  if (a.resume) {
    firstLeg = true;
    step(() => x.probe_start(BigInt(now())));
    await finished;
    if (legTimer) clearTimeout(legTimer);
    if (timer) clearTimeout(timer);
    firstLeg = false;
    const st = x.probe_state();
    const answered = st === 3 ? `answered ${coapCodeText(x.probe_response_code())}` : "no CoAP answer";
    const resumable = x.probe_session_valid() === 1;
    if (!fatal && !timedOut && (st === 2 || st === 3 || (st === 4 && x.probe_suite() !== 0))) {
      print(`first connection: full handshake, ${answered}; session ${resumable ? "kept for resumption" : "NOT resumable (no session ID or ticket with EMS)"}; ` +
        `sent ${Number(x.probe_stat(0))} bytes in ${Number(x.probe_stat(2))} datagrams, received ${Number(x.probe_stat(1))} bytes in ${Number(x.probe_stat(3))} datagrams`);
      x.probe_end_connection(BigInt(now())); // close_notify; the session stays
      await new Promise((r) => setImmediate(r));
      finished = new Promise<void>((res) => { done = res; });
      t0 = now();
      step(() => x.probe_start(BigInt(now())));
      await finished;
    }
  } else {
    step(() => x.probe_start(BigInt(now())));
    await finished;
  }
  clearTimeout(overall);
  if (timer) clearTimeout(timer);
  const ms = now() - t0;
  const result: ProbeResult = { exitCode: EXIT.Ok, reason: "ok" };
  try {
    if (!fatal) x.probe_finish(BigInt(now())); // close_notify, SE slot destroyed
  } catch (e) { if (!(e instanceof FirmwareFatal)) throw e; fatal = e; }
  // let close_notify leave before the socket closes
  await new Promise((r) => setImmediate(r));
  net.closeAll();
  if (fatal) return { exitCode: EXIT.Other, reason: `firmware fault: ${fatal.message}` };

  const stat = (i: number) => Number(x.probe_stat(i));
  result.stats = { bytesSent: stat(0), bytesReceived: stat(1), datagramsSent: stat(2), datagramsReceived: stat(3) };
  const suiteCode = x.probe_suite() >>> 0;
  const suite = Object.values(CIPHERS).find((c) => c.code === suiteCode);
  if (suiteCode) result.suite = suite ? suite.iana : `0x${suiteCode.toString(16).padStart(4, "0")}`;
  const klLen = x.probe_key_log_len();
  if (klLen > 0) result.keyLogLine = Buffer.from(view().slice(x.probe_key_log_ptr(), x.probe_key_log_ptr() + klLen)).toString("latin1");
  if (a.keylog && result.keyLogLine) appendFileSync(a.keylog, result.keyLogLine + "\n", { mode: 0o600 });

  const where = `${a.scheme}://${a.host}:${a.port}/${a.path}`;
  const state = x.probe_state();
  if (a.scheme === "coap") print(`${where}: NoSec (Security Mode 3): no encryption, no authentication`);
  else if (result.suite) print(`${where}: DTLS 1.2 ${result.suite}${x.probe_ems() ? ", extended master secret" : ""}${a.mfl ? `, max fragment ${x.probe_max_plaintext()}` : ""}`);
  if (state === 3) {
    const code = x.probe_response_code();
    const fmt = x.probe_response_format();
    result.code = code;
    result.payload = view().slice(x.probe_payload_ptr(), x.probe_payload_ptr() + x.probe_payload_len());
    const b2 = x.probe_response_block2();
    print(`response: ${coapCodeText(code)}${fmt >= 0 ? ` (${FORMATS[fmt] ?? `Content-Format ${fmt}`})` : ""}` +
      `${b2 >= 0 && (b2 & 8) ? ` (first block of ${16 << (b2 & 7)} bytes only)` : ""}${x.probe_request_sends() > 1 ? `, after ${x.probe_request_sends() - 1} retransmission(s)` : ""}`);
    if (result.payload.length) {
      const text = Buffer.from(result.payload).toString("utf8");
      print(/^[\x09\x0a\x0d\x20-\x7e\u00a0-\uffff]*$/.test(text) ? text.replace(/\n$/, "") : `(${result.payload.length} bytes) ${Buffer.from(result.payload).toString("hex")}`);
    }
    if ((code >> 5) !== 2) { result.exitCode = EXIT.Response; result.reason = `response ${coapCodeText(code)}`; }
  } else if (state === 4) {
    const f = x.probe_failure();
    const fname = nameOf(names.probe, f, "ProbeError");
    if (fname === "Dtls") {
      const r = x.probe_dtls_reason(), det = x.probe_dtls_detail(), alert = x.probe_alert();
      let why = `DTLS: ${nameOf(names.dtls, r, "DtlsError")}`;
      if (det) why += ` (x509: ${nameOf(names.x509, det, "X509Error")})`;
      if (alert >= 0) why += ` (alert received: ${nameOf(names.alert, alert, "alert")})`;
      // ConnState 3/4: our Finished was out; a server that then goes quiet or closes did not accept it.
      const stage = x.probe_handshake_stage?.() ?? 0;
      const quiet = ["PeerClosed", "FinishedTimeout", "Timeout", "PeerAlert"].includes(names.dtls.get(r) ?? "");
      if (quiet && (stage === 3 || stage === 4) && a.psk && (alert < 0 || alert === 0 || alert === 20 || alert === 51)) {
        why += " after our Finished: the server could not verify it (PSK identity or key mismatch)";
      }
      result.exitCode = EXIT.Dtls;
      result.reason = why;
    } else if (fname === "CoapTimeout" || fname === "CoapReset") {
      result.exitCode = EXIT.Coap;
      result.reason = fname === "CoapTimeout" ? `CoAP: no response to the GET (CoapTimeout, ${x.probe_request_sends()} transmissions)` : "CoAP: the server reset the GET (CoapReset)";
    } else {
      result.exitCode = EXIT.Other;
      result.reason = `probe: ${fname}`;
    }
  } else {
    result.exitCode = EXIT.Timeout;
    result.reason = `timeout after ${a.timeoutS} s (${state === 1 ? "during the DTLS handshake" : "waiting for the CoAP response"})`;
  }
  const s = result.stats;
  print(`sent ${s.bytesSent} bytes in ${s.datagramsSent} datagrams, received ${s.bytesReceived} bytes in ${s.datagramsReceived} datagrams, ${ms} ms`);
  if (a.keylog && result.keyLogLine) print(`key log line appended to ${a.keylog}`);
  if (a.resume && result.suite) {
    result.resumed = x.probe_resumed() === 1;
    print(result.resumed ? "second connection: session resumed (abbreviated handshake)" : "second connection: NOT resumed (full handshake)");
    if (!result.resumed && result.exitCode === EXIT.Ok) { result.exitCode = EXIT.NotResumed; result.reason = "--resume: the server did not resume the session"; }
  }
  return result;
}

/** `lwm2m-wasm probe ARGS`: the exit status. */
export async function runProbe(argv: string[]): Promise<number> {
  let a: ProbeArgs;
  try {
    a = parseProbeArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (e.message) console.error(`probe: ${e.message}\n`);
    console.error(PROBE_USAGE);
    return e.message ? EXIT.Usage : EXIT.Ok;
  }
  const r = await probe(a, (l) => console.log(l));
  if (r.exitCode !== EXIT.Ok) console.error(`probe failed: ${r.reason}`);
  return r.exitCode;
}

// Run directly (`node --import tsx host-shim/node/probe.ts ...`); bin/lwm2m-wasm.js calls runProbe instead.
if (process.argv[1] && /[\\/]host-shim[\\/]node[\\/]probe\.ts$/.test(process.argv[1])) {
  runProbe(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { console.error(e); process.exitCode = EXIT.Other; });
}

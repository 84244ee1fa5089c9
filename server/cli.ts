// `npx lwm2m-wasm server`: starts the development Bootstrap-Server and LwM2M
// Server, prints every event, and takes device-management commands on stdin.
import readline from "node:readline";
import path from "node:path";
import { startDevServers, DevServers, type DevKeyPair, formatEntries, formatValue, DEV_CONFIG_FILE, DEFAULT_PKI_DIR, pskAccountsOf } from "./index";
import { LwM2MResponse, ObservationHandle } from "./lwm2m-server";
import { LwM2MValue, objlnk, formatLinkFormat, FormatName } from "./formats";
import { toText } from "./coap";
import { startWebView } from "./http";

export const DEFAULT_CONFIG = DEV_CONFIG_FILE;

const USAGE = `usage: lwm2m-wasm server [--config FILE] [--bootstrap-port N] [--server-port N] [--address A]
                          [--secure-bootstrap-port N] [--secure-server-port N] [--pki DIR] [--client-ca FILE]... [--no-dtls] [--no-repl]
                          [--http PORT]
  --config FILE              bootstrap configuration (JSON keyed by endpoint name; default server/dev-config.json)
  --bootstrap-port N         CoAP (UDP) port of the Bootstrap-Server (default 5783; 0 = any free port)
  --server-port N            CoAP (UDP) port of the LwM2M Server (default 5683; 0 = any free port)
  --secure-bootstrap-port N  CoAP over DTLS port of the Bootstrap-Server (default: --bootstrap-port + 1, i.e. 5784; 0 when that is 0)
  --secure-server-port N     CoAP over DTLS port of the LwM2M Server (default: --server-port + 1, i.e. 5684; 0 when that is 0)
  --pki DIR                  development PKI folder for DTLS-RPK and DTLS-X.509 (default ./state/dev-pki; made with the openssl command)
  --client-ca FILE           also accept DTLS client certificates issued by this CA (PEM or DER; repeatable), e.g. libest's estCA/cacert.crt
  --no-dtls                  plain CoAP only (no DTLS listeners)
  --address A                address to bind (default 127.0.0.1)
  --no-repl                  do not read commands from stdin
  --http PORT                the web view and its JSON API on http://127.0.0.1:PORT/ (0 = any free port; server/README.md)`;

export const COMMANDS = `commands:
  list                                  registrations
  read EP PATH [tlv|senml-json|senml-cbor|text|opaque]
  write EP PATH VALUE [--update] [--format F]   VALUE: 12, 1.5, true, "text", 0xHEX, objlnk:3:0
  exec EP PATH [ARGS]
  create EP /OID [ID] RID=VALUE ...
  delete EP PATH
  discover EP PATH
  attr EP PATH pmin=N pmax=N gt=X lt=X st=X   (NAME= alone removes one)
  observe EP PATH [FORMAT]              prints notifications; 'cancel N' stops observation N
  cancel N
  bootstrap EP HOST:PORT                server-initiated bootstrap
  help | quit`;

export interface CliArgs {
  config: string; bootstrapPort: number; serverPort: number; address: string; repl: boolean;
  /** Port of the web view (127.0.0.1 only); none when absent. */
  http?: number;
  /** DTLS listeners on (default). */
  dtls: boolean;
  /** DTLS ports (undefined = the CoAP port + 1, or 0 when that is 0). */
  secureBootstrapPort?: number; secureServerPort?: number;
  /** Development PKI folder. */
  pki: string;
  /** --client-ca FILE...: extra CAs whose client certificates the DTLS listeners accept. */
  clientCa: string[];
}


export function parseArgs(argv: string[]): CliArgs {
  const a: CliArgs = { config: DEFAULT_CONFIG, bootstrapPort: 5783, serverPort: 5683, address: "127.0.0.1", repl: true, dtls: true, pki: DEFAULT_PKI_DIR, clientCa: [] };
  for (let i = 0; i < argv.length; i++) {
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value\n${USAGE}`); return argv[++i]; };
    const port = () => {
      const name = argv[i], s = v(), n = Number(s);
      if (!/^\d+$/.test(s) || n > 65535) throw new Error(`${name}: '${s}' is not a port (0-65535)\n${USAGE}`);
      return n;
    };
    switch (argv[i]) {
      case "--config": a.config = v(); break;
      case "--bootstrap-port": a.bootstrapPort = port(); break;
      case "--server-port": a.serverPort = port(); break;
      case "--secure-bootstrap-port": a.secureBootstrapPort = port(); break;
      case "--secure-server-port": a.secureServerPort = port(); break;
      case "--pki": a.pki = v(); break;
      case "--client-ca": a.clientCa.push(v()); break;
      case "--no-dtls": a.dtls = false; break;
      case "--address": a.address = v(); break;
      case "--no-repl": a.repl = false; break;
      case "--http": a.http = port(); break;
      case "-h": case "--help": throw new Error(USAGE);
      default: throw new Error(`unknown argument '${argv[i]}'\n${USAGE}`);
    }
  }
  return a;
}

/** Command-line value: 12, -3, 1.5, true/false, "quoted text", 0xHEX (bytes), objlnk:3:0, other words as text. */
export function parseValue(s: string): LwM2MValue {
  if (/^-?\d+$/.test(s)) { const b = BigInt(s); return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b; }
  if (/^-?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return Number(s);
  if (s === "true" || s === "false") return s === "true";
  if (/^0x([0-9a-fA-F]{2})*$/.test(s)) return new Uint8Array(Buffer.from(s.slice(2), "hex"));
  const m = /^objlnk:(\d+):(\d+)$/.exec(s);
  if (m) return objlnk(Number(m[1]), Number(m[2]));
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) return s.slice(1, -1);
  return s;
}

/** Splits a command line into words; double quotes keep spaces (and stay on the word). */
export function words(line: string): string[] {
  return line.match(/"[^"]*"|\S+/g) ?? [];
}

export function describeResponse(r: LwM2MResponse): string {
  let s = r.code;
  if (r.location) s += ` location ${r.location}`;
  if (r.content) s += ` ${formatEntries(r.content)}`;
  else if (r.links) s += ` ${formatLinkFormat(r.links)}`;
  else if (r.decodeError) s += ` (undecodable: ${r.decodeError})`;
  else if (r.payload.length) s += ` ${toText(r.payload)}`;
  return s;
}

/** Runs one command line against the servers; returns the text to print. */
export async function runCommand(dev: DevServers, line: string, observations: Map<number, ObservationHandle>, print: (s: string) => void): Promise<string> {
  const w = words(line.trim());
  if (w.length === 0) return "";
  const [cmd, ep, p] = w;
  const need = (n: number) => { if (w.length < n) throw new Error(`'${cmd}' needs more arguments (help lists them)`); };
  const s = dev.server;
  switch (cmd) {
    case "help": return COMMANDS;
    case "list":
      return s.registrations.map((r) => `${r.endpoint} /rd/${r.id} lt=${r.lifetime} b=${r.binding} ${r.peerKey} ${formatLinkFormat(r.objectLinks)}`).join("\n") || "(no registrations)";
    case "read": need(3); return describeResponse(await s.read(ep, p, { format: w[3] as FormatName | undefined }));
    case "write": {
      need(4);
      const update = w.includes("--update");
      const fi = w.indexOf("--format");
      const format = fi > 0 ? (w[fi + 1] as FormatName) : undefined;
      return describeResponse(await s.write(ep, p, parseValue(w[3]), { mode: update ? "update" : "replace", format }));
    }
    case "exec": need(3); return describeResponse(await s.execute(ep, p, w.slice(3).join(" ") || undefined));
    case "create": {
      need(3);
      let rest = w.slice(3);
      let id: number | undefined;
      if (rest[0] && /^\d+$/.test(rest[0])) { id = Number(rest[0]); rest = rest.slice(1); }
      const resources: Record<number, LwM2MValue> = {};
      for (const kv of rest) {
        const m = /^(\d+)=(.*)$/.exec(kv);
        if (!m) throw new Error(`'${kv}' is not RID=VALUE`);
        resources[Number(m[1])] = parseValue(m[2]);
      }
      return describeResponse(await s.create(ep, p, { id, resources }));
    }
    case "delete": need(3); return describeResponse(await s.delete(ep, p));
    case "discover": need(3); return describeResponse(await s.discover(ep, p));
    case "attr": {
      need(4);
      const attrs: Record<string, number | null> = {};
      for (const kv of w.slice(3)) {
        const m = /^(pmin|pmax|gt|lt|st|epmin|epmax)=(.*)$/.exec(kv);
        if (!m) throw new Error(`'${kv}' is not an attribute (pmin pmax gt lt st epmin epmax)`);
        attrs[m[1]] = m[2] === "" ? null : Number(m[2]);
      }
      return describeResponse(await s.writeAttributes(ep, p, attrs));
    }
    case "observe": {
      need(3);
      const h = await s.observe(ep, p, undefined, { format: w[3] as FormatName | undefined });
      if (!h.established) return `${describeResponse(h.response)} (not observed)`;
      const n = (Math.max(0, ...observations.keys()) + 1);
      observations.set(n, h);
      return `observation ${n}: ${describeResponse(h.response)}`;
    }
    case "cancel": {
      need(2);
      const h = observations.get(Number(ep));
      if (!h) throw new Error(`no observation ${ep}`);
      observations.delete(Number(ep));
      const r = await h.cancel();
      return `observation ${ep} cancelled${r ? `: ${describeResponse(r)}` : ""}`;
    }
    case "bootstrap": {
      need(3);
      print(`[bootstrap] ${ep}: server-initiated bootstrap of ${p}`);
      const r = await dev.bootstrap.bootstrap(ep, p);
      return r.ok ? `bootstrap of ${ep} finished` : `bootstrap of ${ep}: ${r.error ?? `refused (${r.code})`}`;
    }
    default: throw new Error(`unknown command '${cmd}' (help lists them)`);
  }
}

// ---- ready-made example devices -------------------------------------------------------------------

/** The endpoint (and certificate CN) of the example device key pair the CLI issues from the development PKI. */
export const EXAMPLE_DEVICE = "lwm2m-wasm-device";
/** The development PSK credentials of endpoint lwm2m-wasm-demo in server/dev-config.json (public development keys). */
function demoPsk() {
  const a = pskAccountsOf(DEV_CONFIG_FILE, "lwm2m-wasm-demo");
  if (!a.server || !a.bootstrap) throw new Error(`${DEV_CONFIG_FILE}: lwm2m-wasm-demo has no PSK accounts`);
  return { server: a.server, bootstrap: a.bootstrap };
}

/**
 * Issues the example device key pair / certificate (`pki.device("lwm2m-wasm-device")`)
 * and lets both DTLS listeners accept its raw public key. X.509 needs nothing
 * more: the certificate chains to the development CA. Null without a PKI.
 */
export function acceptExampleDevice(dev: DevServers): DevKeyPair | null {
  if (!dev.pki) return null;
  const pair = dev.pki.device(EXAMPLE_DEVICE);
  const spki = Buffer.from(pair.publicKey).toString("hex");
  dev.clients.server.rpk.add(spki);
  dev.clients.bootstrap.rpk.add(spki);
  return pair;
}

export interface ExampleDevice {
  /** NoSec, DTLS-PSK, DTLS-RPK, DTLS-X.509, bootstrap over DTLS-PSK; Security Mode 4 (EST) direct or after bootstrap. */
  mode: "nosec" | "psk" | "rpk" | "x509" | "bootstrap-psk" | "est" | "bootstrap-est-idevid";
  title: string;
  endpoint: string;
  /** Arguments after `lwm2m-wasm device`. */
  args: string[];
}

/** A client reaches a wildcard bind address through loopback (and the server certificate names 127.0.0.1 / ::1). */
function reachable(uri: string): string {
  return uri.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:");
}

/**
 * `lwm2m-wasm device` argument lists that work against these servers, one per
 * security mode (straight to the LwM2M Server) plus a bootstrap over DTLS-PSK.
 * RPK and X.509 are listed when `device` is the pair acceptExampleDevice()
 * gave. Only public development keys and file names appear. Each device gets
 * its own state folder under `stateRoot` and is re-provisioned from the flags.
 */
export function exampleDevices(dev: DevServers, device: DevKeyPair | null, stateRoot = "state"): ExampleDevice[] {
  const state = (mode: string) => ["--state", path.join(stateRoot, `device-${mode}`), "--reprovision"];
  const DEMO_PSK = demoPsk();
  const ex: ExampleDevice[] = [];
  if (dev.secureServerUri) {
    const uri = reachable(dev.secureServerUri);
    ex.push({ mode: "psk", title: "DTLS-PSK", endpoint: DEMO_PSK.server.identity,
      args: ["--endpoint", DEMO_PSK.server.identity, "--server", uri, "--psk-identity", DEMO_PSK.server.identity, "--psk-key", DEMO_PSK.server.key, ...state("psk")] });
    if (dev.pki && device) {
      const f = (name: string) => path.join(dev.pki!.dir, name);
      ex.push({ mode: "rpk", title: "DTLS-RPK (RFC 7250 raw public keys)", endpoint: `${EXAMPLE_DEVICE}-rpk`,
        args: ["--endpoint", `${EXAMPLE_DEVICE}-rpk`, "--server", uri, "--rpk-key", f(`device-${EXAMPLE_DEVICE}.key`), "--server-rpk", f("server.pub.pem"), ...state("rpk")] });
      ex.push({ mode: "x509", title: "DTLS-X.509 (certificate from the development CA)", endpoint: EXAMPLE_DEVICE,
        args: ["--endpoint", EXAMPLE_DEVICE, "--server", uri, "--cert", f(`device-${EXAMPLE_DEVICE}.crt`), "--key", f(`device-${EXAMPLE_DEVICE}.key`),
          "--ca", f("ca.crt"), "--cert-usage", "2", ...state("x509")] });
    }
  }
  ex.push({ mode: "nosec", title: "NoSec (plain CoAP)", endpoint: "lwm2m-wasm-nosec",
    args: ["--endpoint", "lwm2m-wasm-nosec", "--server", reachable(dev.serverUri), ...state("nosec")] });
  if (dev.secureBootstrapUri) {
    ex.push({ mode: "bootstrap-psk", title: "bootstrap over DTLS-PSK, then DTLS-PSK registration", endpoint: DEMO_PSK.server.identity,
      args: ["--endpoint", DEMO_PSK.server.identity, "--bootstrap", reachable(dev.secureBootstrapUri), "--psk-identity", DEMO_PSK.bootstrap.identity,
        "--psk-key", DEMO_PSK.bootstrap.key, ...state("bootstrap")] });
  }
  return ex;
}

/** The endpoint of the printed Security Mode 4 device; its factory (IDevID) certificate is `<pki>/device-lwm2m-wasm-idevid.crt`. */
export const EST_EXAMPLE_DEVICE = "lwm2m-wasm-est-device";
export const EST_IDEVID = "lwm2m-wasm-idevid";
/** The bootstrapped Security Mode 4 endpoint of server/dev-config.json with an IDevID in resources 3 and 5. */
export const EST_IDEVID_BOOTSTRAP_ENDPOINT = "lwm2m-wasm-est-idevid";

/**
 * `lwm2m-wasm device` argument lists for Security Mode 4 (certificate with
 * EST, issue 8) against these servers: a factory-provisioned device
 * (`--server-cert` = resource 4, the LwM2M Server's certificate; a factory
 * IDevID certificate from the development CA authenticates it to the EST
 * server, which is the LwM2M Server itself when `--est` is omitted), and the
 * bootstrapped `lwm2m-wasm-est-idevid` account of dev-config.json (an
 * IDevID in resources 3 and 5). Not printed: `lwm2m-wasm-est` (resources 3
 * and 5 empty), which needs a device that enrols with its bootstrap PSK (the
 * RA accepts it; the firmware's EST client authenticates with the IDevID).
 * Issues the IDevID (`pki.device("lwm2m-wasm-idevid")`).
 * Empty without the DTLS listeners, a PKI or the EST RA.
 */
export function estExampleDevices(dev: DevServers, stateRoot = "state"): ExampleDevice[] {
  if (!dev.secureServerUri || !dev.pki || !dev.est) return [];
  const state = (mode: string) => ["--state", path.join(stateRoot, `device-${mode}`), "--reprovision"];
  const f = (name: string) => path.join(dev.pki!.dir, name);
  dev.pki.device(EST_IDEVID);
  const ex: ExampleDevice[] = [{
    mode: "est", title: "Security Mode 4 (certificate with EST): key made in the SE, EST-coaps enrolment at the LwM2M Server with a factory certificate, then DTLS with the issued one",
    endpoint: EST_EXAMPLE_DEVICE,
    args: ["--endpoint", EST_EXAMPLE_DEVICE, "--server", reachable(dev.secureServerUri), "--server-cert", f("server.crt"),
      "--idevid-cert", f(`device-${EST_IDEVID}.crt`), "--idevid-key", f(`device-${EST_IDEVID}.key`), ...state("est")],
  }];
  const bs = pskAccountsOf(DEV_CONFIG_FILE, EST_IDEVID_BOOTSTRAP_ENDPOINT).bootstrap;
  if (bs && dev.est.psk.has(bs.identity) && dev.secureBootstrapUri) { // only when the running configuration has that account
    ex.push({ mode: "bootstrap-est-idevid", endpoint: EST_IDEVID_BOOTSTRAP_ENDPOINT,
      title: "bootstrap over DTLS-PSK to a Security Mode 4 account with an IDevID in resources 3 and 5, EST enrolment with it, then DTLS with the issued certificate",
      args: ["--endpoint", EST_IDEVID_BOOTSTRAP_ENDPOINT, "--bootstrap", reachable(dev.secureBootstrapUri), "--psk-identity", bs.identity, "--psk-key", bs.key, ...state("bootstrap-est-idevid")] });
  }
  return ex;
}

/** POSIX shell quoting (only where needed). */
export function shellQuote(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function formatExampleDevices(ex: ExampleDevice[]): string {
  const lines = ["example devices (each in another terminal, from this folder; Ctrl-C de-registers):"];
  for (const e of ex) lines.push(`  # ${e.title}`, `  npx lwm2m-wasm device ${e.args.map(shellQuote).join(" ")}`);
  return lines.join("\n");
}

export async function runServerCli(argv: string[], out: (s: string) => void = (s) => console.log(s)): Promise<DevServers> {
  const args = parseArgs(argv);
  const dev = await startDevServers({
    config: args.config, bootstrapPort: args.bootstrapPort, serverPort: args.serverPort, address: args.address, log: out,
    secure: args.dtls ? { bootstrapPort: args.secureBootstrapPort, serverPort: args.secureServerPort, pkiDir: args.pki, clientCaFiles: args.clientCa } : false,
  });
  let device: DevKeyPair | null = null;
  try {
    device = acceptExampleDevice(dev);
  } catch (e) {
    out(`[servers] WARNING: no example device key pair (${(e as Error).message}): no RPK / X.509 examples`);
  }
  let est: ExampleDevice[] = [];
  try {
    est = estExampleDevices(dev);
  } catch (e) {
    out(`[servers] WARNING: no Security Mode 4 example (${(e as Error).message})`);
  }
  out(formatExampleDevices([...exampleDevices(dev, device), ...est]));
  const web = args.http === undefined ? null : await startWebView(dev, args.http);
  if (web) out(`[web] the web view and its JSON API: ${web.url}`);
  const stop = async () => { await web?.close(); await dev.close(); process.exit(0); };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
  if (args.repl) {
    out(`type 'help' for commands`);
    const rl = readline.createInterface({ input: process.stdin, terminal: false });
    const observations = new Map<number, ObservationHandle>();
    rl.on("line", (line) => {
      if (line.trim() === "quit" || line.trim() === "exit") { rl.close(); void stop(); return; }
      runCommand(dev, line, observations, out).then((r) => { if (r) out(r); }, (e) => out(`error: ${(e as Error).message}`));
    });
  }
  return dev;
}

if ((require as NodeJS.Require).main === module) {
  runServerCli(process.argv.slice(2)).catch((e) => { console.error((e as Error).message); process.exit(2); });
}

export { formatValue };

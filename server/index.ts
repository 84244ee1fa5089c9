// Development servers: an LwM2M Bootstrap-Server and an LwM2M Server, each on
// plain CoAP and on CoAP over DTLS 1.2 (PSK, RPK and X.509 on one port, the
// firmware's own DTLS server role), started together for `npm start`, the
// end-to-end tests and the CLI (`npx lwm2m-wasm server`). Each event is
// printed as it happens.
import {
  BootstrapConfig, BootstrapResult, BootstrapServer, loadBootstrapConfig, keyBytes, fillVariables, pskKeyBytes, isEndpointPattern, identityPatternSource,
} from "./bootstrap-server";
import { DEV_KDF, devPsk } from "./dev-psk";
import { LwM2MServer, Notification, Registration } from "./lwm2m-server";
import type { PeerInfo, PeerIdentity } from "./transport";
import { TransmissionParams, toText, codeString } from "./coap";
import { formatLinkFormat, LwM2MEntry, isObjectLink } from "./formats";
import { DtlsTransport, UdpTransport, type BoundAddress, type DtlsServerCredentials } from "./transport";
import { DevPki } from "./dev-pki";
import { EstRa, loadEstCa, certificatesOf, type EstIssued, type EstPskAccount, type EstRefusal } from "./est";
import { join } from "node:path";
import { readFileSync } from "node:fs";

export * from "./coap";
export * from "./formats";
export * from "./transport";
export * from "./bootstrap-server";
export * from "./lwm2m-server";
export * from "./dev-pki";
export * from "./dev-psk";
export * from "./est";

/** server/dev-config.json: the development configuration of npm start and the CLI. */
export const DEV_CONFIG_FILE = join(__dirname, "dev-config.json");
/** Where the development PKI lives unless told otherwise (relative to the working folder). */
export const DEFAULT_PKI_DIR = join("state", "dev-pki");

export interface DevServersOptions {
  /** UDP port of the Bootstrap-Server (default 5783; 0 = any free port). */
  bootstrapPort?: number;
  /** UDP port of the LwM2M Server (default 5683; 0 = any free port). */
  serverPort?: number;
  /** Address both bind to (default 127.0.0.1). */
  address?: string;
  /** Bootstrap configuration: a JSON file path or the object. */
  config: string | BootstrapConfig;
  coap?: Partial<TransmissionParams>;
  lifetimeGraceMs?: number;
  /** Where event lines go (default console.log); false = silent. */
  log?: ((line: string) => void) | false;
  /** CoAP over DTLS beside plain CoAP (default on); false = plain CoAP only. */
  secure?: false | DevServersSecureOptions;
}

export interface DevServersSecureOptions {
  /** DTLS port of the Bootstrap-Server (default: its CoAP port + 1, i.e. 5784; 0 when that is 0). */
  bootstrapPort?: number;
  /** DTLS port of the LwM2M Server (default: its CoAP port + 1, i.e. 5684; 0 when that is 0). */
  serverPort?: number;
  /** Folder of the development PKI (default ./state/dev-pki): the servers' key pair for RPK and X.509. */
  pkiDir?: string;
  /** CA certificate files (PEM, every block, or DER) whose client certificates both DTLS listeners also accept (CLI --client-ca), e.g. libest's estCA/cacert.crt. */
  clientCaFiles?: string[];
  /** The EST-coaps RA (server/est.ts) on both servers' DTLS ports, on by default with a PKI; false = off. */
  est?: false | { validitySeconds?: number };
}

/** Which clients the DTLS listeners accept (filled from the configuration; add more at run time). */
export interface ClientCredentialStore {
  /** PSK identity -> key. */
  psk: Map<string, Uint8Array>;
  /**
   * Identities by pattern, for fleets: a configuration entry "fleet-*" with the
   * identity "{endpoint}" gives /^fleet-.+$/; the key is the configured one or,
   * for "dev-kdf", the identity's development key (server/dev-psk.ts).
   */
  pskRules: { pattern: RegExp; key: Uint8Array | typeof DEV_KDF }[];
  /** RFC 7250 raw public keys (SPKI DER, hex) accepted. X.509 clients are accepted when they chain to the development CA. */
  rpk: Set<string>;
}

export interface DevServers {
  bootstrap: BootstrapServer;
  server: LwM2MServer;
  bootstrapAddress: BoundAddress;
  serverAddress: BoundAddress;
  /** coap://address:port of each. */
  bootstrapUri: string;
  serverUri: string;
  /** coaps://address:port of each (null when the DTLS listeners are off). */
  secureBootstrapUri: string | null;
  secureServerUri: string | null;
  /** The development PKI behind RPK and X.509 (null when off or when openssl is missing: then PSK only). */
  pki: DevPki | null;
  /** The clients each DTLS listener accepts. */
  clients: { bootstrap: ClientCredentialStore; server: ClientCredentialStore };
  /** The EST-coaps RA in front of the development CA (null without a PKI or when off); its `psk` map is open to additions. */
  est: EstRa | null;
  /** The LwM2M Server's transports (datagram and byte counters in `stats`). */
  serverTransports: { plain: UdpTransport; secure: DtlsTransport | null };
  /** The Bootstrap-Server's DTLS transport (null when off). */
  bootstrapSecureTransport: DtlsTransport | null;
  close(): Promise<void>;
}

const hostOf = (a: BoundAddress) => (a.address.includes(":") ? `[${a.address}]` : a.address);

export function formatValue(v: LwM2MEntry["value"]): string {
  if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString("hex")}`;
  if (isObjectLink(v)) return `objlnk:${v.objlnk}`;
  if (typeof v === "string") return JSON.stringify(v);
  return String(v);
}
export const formatEntries = (entries: LwM2MEntry[] | undefined) => (entries ?? []).map((e) => `${e.path}=${formatValue(e.value)}`).join(" ");

/** Starts both servers; the LwM2M Server's ports fill {serverHost}, {serverPort} and {serverSecurePort} in Security URIs. */
export async function startDevServers(opts: DevServersOptions): Promise<DevServers> {
  const address = opts.address ?? "127.0.0.1";
  const log = opts.log === false ? () => {} : opts.log ?? ((l: string) => console.log(l));
  const { config } = loadBootstrapConfig(opts.config); // fail early on a bad file
  const secure = opts.secure === false ? null : opts.secure ?? {};
  const plainServerPort = opts.serverPort ?? 5683, plainBootstrapPort = opts.bootstrapPort ?? 5783;
  const opened: { close(): Promise<void> }[] = [];
  const closeAll = async () => { for (const o of opened.reverse()) await o.close(); };
  try {
    let pki: DevPki | null = null;
    if (secure) {
      try {
        pki = new DevPki(secure.pkiDir ?? DEFAULT_PKI_DIR);
        // device key pairs the configuration names as {pki}/device-<name>.key / .crt / .pub.pem
        for (const m of JSON.stringify(config).matchAll(/\{pki\}\/device-([A-Za-z0-9._-]+?)\.(?:key|crt|pub\.pem)/g)) pki.device(m[1]);
      } catch (e) {
        log(`[servers] WARNING: no development PKI (${(e as Error).message}): DTLS serves PSK only, no RPK or X.509`);
        pki = null;
      }
    }
    const vars: Record<string, string> = pki ? { pki: pki.dir } : {};
    const clients = clientCredentialsFromConfig(opts.config, vars);
    const clientCas = (secure?.clientCaFiles ?? []).flatMap((f) => certificatesOf(readFileSync(f)));
    const est = pki && secure?.est !== false
      ? new EstRa({ ca: await loadEstCa(readFileSync(pki.ca.certFile, "utf8"), readFileSync(pki.ca.keyFile, "utf8")), psk: estPskAccountsFromConfig(opts.config), validitySeconds: secure?.est?.validitySeconds })
      : null;
    /** A listener's credentials; `estPsk`: also the EST accounts' PSK identities (the RA answers them; Register refuses them). */
    const dtlsCredentials = (store: ClientCredentialStore, estPsk: boolean): DtlsServerCredentials => ({
      psk: { lookup: (id) => lookupPsk(store, id) ?? (estPsk ? est?.psk.get(id)?.key : undefined) },
      ...(pki ? {
        rpk: { privateKey: pki.server.privateKey, publicKey: pki.server.publicKey, acceptClientKey: (spki: Uint8Array) => store.rpk.has(Buffer.from(spki).toString("hex")) },
        x509: { certificateChain: [pki.server.certificate], privateKey: pki.server.privateKey, trustAnchors: [pki.ca.certificate, ...clientCas] },
      } : {}),
    });

    const family = address.includes(":") ? "udp6" : "udp4";
    /** A DTLS listener for one server's clients; its port defaults to the CoAP port + 1 (0 stays 0). */
    const listenDtls = async (store: ClientCredentialStore, port: number | undefined, plainPort: number, estPsk = false) => {
      const t = new DtlsTransport(dtlsCredentials(store, estPsk), family);
      opened.push(t);
      return { t, address: await t.bind(port ?? (plainPort === 0 ? 0 : plainPort + 1), address) };
    };

    const server = new LwM2MServer({
      coap: opts.coap, lifetimeGraceMs: opts.lifetimeGraceMs, extraResources: est ?? undefined,
      // a PSK identity the listener knows only as an EST account enrols, it does not register
      authorize: (_ep, peer) => !(peer.identity?.kind === "psk" && est?.psk.has(peer.identity.identity) && !clients.server.psk.has(peer.identity.identity)),
    });
    opened.push(server);
    const plainServer = new UdpTransport(family);
    opened.push(plainServer);
    const serverAddress = await plainServer.bind(plainServerPort, address);
    server.addTransport(plainServer);
    let secureServer: DtlsTransport | null = null, secureServerAddress: BoundAddress | null = null;
    if (secure) {
      ({ t: secureServer, address: secureServerAddress } = await listenDtls(clients.server, secure.serverPort, plainServerPort, true));
      server.addTransport(secureServer);
    }
    const bootstrap = new BootstrapServer({
      config: opts.config, coap: opts.coap, extraResources: est ?? undefined,
      uriVariables: { ...vars, serverPort: serverAddress.port, serverHost: hostOf(serverAddress), serverSecurePort: secureServerAddress?.port ?? "" },
    });
    opened.push(bootstrap);
    const bootstrapAddress = await bootstrap.listen(plainBootstrapPort, address);
    let secureBootstrapAddress: BoundAddress | null = null, bootstrapSecureTransport: DtlsTransport | null = null;
    if (secure) {
      const l = await listenDtls(clients.bootstrap, secure.bootstrapPort, plainBootstrapPort);
      secureBootstrapAddress = l.address;
      bootstrapSecureTransport = l.t;
      bootstrap.addTransport(l.t);
    }

    bootstrap.on("warning", (w: string) => log(`[bootstrap] warning: ${w}`));
    bootstrap.on("bootstrapRequest", (e: { endpoint: string; peerKey: string; preferredFormat?: number; peer?: PeerInfo }) =>
      log(`[bootstrap] ${e.endpoint}: Bootstrap-Request from ${e.peerKey}${describeIdentity(e.peer?.identity)}${e.preferredFormat !== undefined ? ` (pct=${e.preferredFormat})` : ""}`));
    bootstrap.on("bootstrapOperation", (e: { endpoint: string; op: string; path: string; code: string }) =>
      log(`[bootstrap] ${e.endpoint}: Bootstrap-${e.op} ${e.path} -> ${e.code}`));
    bootstrap.on("bootstrapFinished", (r: BootstrapResult) =>
      log(`[bootstrap] ${r.endpoint}: ${r.ok ? "bootstrap finished (2.04)" : `bootstrap REFUSED by the client (${r.code})`}`));
    bootstrap.on("bootstrapFailed", (r: BootstrapResult) => log(`[bootstrap] ${r.endpoint}: bootstrap failed: ${r.error}`));

    const desc = (r: Registration) => `lt=${r.lifetime} lwm2m=${r.version} b=${r.binding}${r.queueMode ? " queue" : ""} from ${r.peerKey}${r.secure ? describeIdentity(r.identity) : " (NoSec)"}`;
    server.on("registered", (r: Registration) => log(`[server] ${r.endpoint}: registered /rd/${r.id} ${desc(r)} ${formatLinkFormat(r.objectLinks)}`));
    server.on("updated", (r: Registration, ch: Record<string, unknown>) => log(`[server] ${r.endpoint}: updated /rd/${r.id}${Object.keys(ch).length ? ` (${Object.keys(ch).join(", ")})` : ""}`));
    server.on("deregistered", (r: Registration) => log(`[server] ${r.endpoint}: deregistered /rd/${r.id}`));
    server.on("expired", (r: Registration) => log(`[server] ${r.endpoint}: registration /rd/${r.id} expired`));
    server.on("notification", (n: Notification) =>
      log(`[server] ${n.endpoint}: notification ${n.path} #${n.observe ?? "-"} ${n.code} ${n.content ? formatEntries(n.content) : n.decodeError ?? toText(n.payload)}`));
    est?.on("issued", (e: EstIssued) => log(`[est] ${e.subject}: ${e.operation} issued certificate ${e.serialNumber} to ${e.peerKey}${describeIdentity(e.identity)}`));
    est?.on("refused", (e: EstRefusal) => log(`[est] ${e.operation} from ${e.peerKey} refused ${codeString(e.code)}: ${e.reason}`));
    server.on("send", (e: { registration: Registration; content: LwM2MEntry[] }) => log(`[server] ${e.registration.endpoint}: Send ${formatEntries(e.content)}`));

    const uri = (scheme: string, a: BoundAddress | null) => (a ? `${scheme}://${hostOf(a)}:${a.port}` : null);
    const bootstrapUri = uri("coap", bootstrapAddress)!, serverUri = uri("coap", serverAddress)!;
    const secureBootstrapUri = uri("coaps", secureBootstrapAddress), secureServerUri = uri("coaps", secureServerAddress);
    log(`[bootstrap] listening on ${bootstrapUri}${secureBootstrapUri ? ` and ${secureBootstrapUri}` : ""}`);
    log(`[server] listening on ${serverUri}${secureServerUri ? ` and ${secureServerUri}` : ""}`);
    if (secure) {
      const rules = (st: ClientCredentialStore) => (st.pskRules.length ? ` + ${st.pskRules.map((r) => `${r.pattern.source}${r.key === DEV_KDF ? " (dev-kdf)" : ""}`).join(", ")}` : "");
      log(`[servers] DTLS: PSK identities ${clients.bootstrap.psk.size}${rules(clients.bootstrap)} (bootstrap) / ${clients.server.psk.size}${rules(clients.server)} (server) from the configuration`);
      if (pki) log(`[servers] DTLS: RPK key ${join(pki.dir, "server.pub.pem")}, X.509 certificate ${pki.server.certFile} issued by the CA ${pki.ca.certFile}`);
      if (clientCas.length) log(`[servers] DTLS: client certificates also accepted from ${clientCas.length} extra CA certificate(s) (${(secure.clientCaFiles ?? []).join(", ")})`);
      if (est) log(`[est] EST-coaps (RFC 9148) on ${secureServerUri}/.well-known/est and ${secureBootstrapUri}/.well-known/est: crts sen sren att skg, CA ${pki!.ca.certFile}; PSK accounts ${est.psk.size}`);
    }
    return {
      bootstrap, server, bootstrapAddress, serverAddress, bootstrapUri, serverUri, secureBootstrapUri, secureServerUri, pki, clients, est,
      serverTransports: { plain: plainServer, secure: secureServer }, bootstrapSecureTransport,
      close: closeAll,
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** The PSK of an identity in a store: its own entry, else the first rule whose pattern matches it. */
export function lookupPsk(store: ClientCredentialStore, identity: string): Uint8Array | undefined {
  const own = store.psk.get(identity);
  if (own) return own;
  const rule = store.pskRules.find((r) => r.pattern.test(identity));
  if (!rule) return undefined;
  return rule.key === DEV_KDF ? devPsk(identity) : rule.key;
}

function describeIdentity(id: PeerIdentity | undefined): string {
  if (!id) return "";
  if (id.kind === "psk") return ` (DTLS, PSK identity '${id.identity}')`;
  if (id.kind === "rpk") return ` (DTLS, raw public key ${Buffer.from(id.publicKey.subarray(-8)).toString("hex")}...)`;
  return ` (DTLS, certificate ${id.subject.replace(/\n/g, ", ")})`;
}

/**
 * PSK credentials the configuration implies, for a DTLS transport's store:
 * what each client uses towards the Bootstrap-Server (bootstrapCredentials)
 * and towards the LwM2M Server (its non-bootstrap PSK Security instances).
 */
export function pskCredentialsFromConfig(source: string | BootstrapConfig): { bootstrap: Map<string, Uint8Array>; server: Map<string, Uint8Array> } {
  const c = clientCredentialsFromConfig(source);
  return { bootstrap: c.bootstrap.psk, server: c.server.psk };
}

export interface PskAccount { identity: string; key: string }

/** The PSK accounts (identity, key as hex) an endpoint of a configuration has towards the LwM2M Server and its Bootstrap-Server. */
export function pskAccountsOf(source: string | BootstrapConfig, endpoint: string): { server?: PskAccount; bootstrap?: PskAccount } {
  const { config, baseDir } = loadBootstrapConfig(source);
  const c = config[endpoint];
  if (!c) return {};
  const account = (identity: string, key: string): PskAccount => {
    const id = fillVariables(identity, { endpoint });
    return { identity: id, key: Buffer.from(pskKeyBytes(key, id, baseDir)).toString("hex") };
  };
  const s = c.security.find((x) => !x.bootstrapServer && (x.securityMode === "psk" || x.securityMode === 0) && x.pskIdentity && x.pskKey);
  const bc = c.bootstrapCredentials;
  return {
    server: s ? account(s.pskIdentity!, s.pskKey!) : undefined,
    bootstrap: bc?.pskIdentity && bc.pskKey ? account(bc.pskIdentity, bc.pskKey) : undefined,
  };
}

/** PSK identities and raw public keys the configuration gives clients, towards the Bootstrap-Server and the LwM2M Server. */
export function clientCredentialsFromConfig(source: string | BootstrapConfig, vars: Record<string, string> = {}): { bootstrap: ClientCredentialStore; server: ClientCredentialStore } {
  const { config, baseDir } = loadBootstrapConfig(source);
  const bootstrap: ClientCredentialStore = { psk: new Map(), rpk: new Set(), pskRules: [] };
  const server: ClientCredentialStore = { psk: new Map(), rpk: new Set(), pskRules: [] };
  const rpkHex = (v: string) => {
    const file = fillVariables(v, vars);
    return /\{\w+\}/.test(file) ? "" : Buffer.from(keyBytes(file, baseDir, "publicKey")).toString("hex"); // {pki} without a PKI: nobody
  };
  for (const [name, c] of Object.entries(config)) {
    if (name.startsWith("$")) continue;
    /** An identity of this entry: one key (a named endpoint) or a rule (a pattern entry, or "*" with {endpoint}). */
    const addPsk = (store: ClientCredentialStore, identity: string, key: string) => {
      const templated = identity.includes("{endpoint}");
      if (!templated || !(isEndpointPattern(name) || name === "*")) {
        const id = fillVariables(identity, { endpoint: name });
        store.psk.set(id, pskKeyBytes(key, id, baseDir));
        return;
      }
      store.pskRules.push({ pattern: new RegExp(`^${identityPatternSource(identity, name)}$`), key: key === DEV_KDF ? DEV_KDF : keyBytes(key, baseDir, "pskKey") });
    };
    const bc = c.bootstrapCredentials;
    if (bc?.pskIdentity && bc.pskKey) addPsk(bootstrap, bc.pskIdentity, bc.pskKey);
    if (bc?.publicKey) bootstrap.rpk.add(rpkHex(bc.publicKey));
    bootstrap.rpk.delete("");
    for (const s of c.security) {
      const store = s.bootstrapServer ? bootstrap : server;
      if ((s.securityMode === "psk" || s.securityMode === 0) && s.pskIdentity && s.pskKey) addPsk(store, s.pskIdentity, s.pskKey);
      if ((s.securityMode === "rpk" || s.securityMode === 1) && s.publicKey) store.rpk.add(rpkHex(s.publicKey));
      store.rpk.delete("");
    }
  }
  return { bootstrap, server };
}

/**
 * The PSK accounts that may use EST (server/est.ts): every named endpoint's
 * bootstrapCredentials PSK and its PSK Security instances, identity ->
 * { endpoint, key }. The LwM2M Server's DTLS listener accepts them too, for
 * EST only (a Register from an identity not in clients.server.psk gets 4.03).
 */
export function estPskAccountsFromConfig(source: string | BootstrapConfig): Map<string, EstPskAccount> {
  const { config, baseDir } = loadBootstrapConfig(source);
  const out = new Map<string, EstPskAccount>();
  for (const [endpoint, c] of Object.entries(config)) {
    if (endpoint.startsWith("$") || endpoint.includes("*")) continue; // named endpoints only: the CN is the name
    const add = (identity: string | undefined, key: string | undefined) => {
      if (identity && key && /^([0-9a-fA-F]{2})+$/.test(key)) out.set(identity, { endpoint, key: keyBytes(key, baseDir, "pskKey") });
    };
    add(c.bootstrapCredentials?.pskIdentity, c.bootstrapCredentials?.pskKey);
    for (const s of c.security) if (s.securityMode === "psk" || s.securityMode === 0) add(s.pskIdentity, s.pskKey);
  }
  return out;
}

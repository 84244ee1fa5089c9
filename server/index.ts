// Development servers: an LwM2M Bootstrap-Server and an LwM2M Server on
// plain CoAP, started together for `npm start`, the end-to-end tests and the
// CLI (`npx lwm2m-wasm server`). Each event is printed as it happens.
import { BootstrapConfig, BootstrapResult, BootstrapServer, loadBootstrapConfig, keyBytes } from "./bootstrap-server";
import { LwM2MServer, Notification, Registration } from "./lwm2m-server";
import { TransmissionParams, toText } from "./coap";
import { formatLinkFormat, LwM2MEntry, isObjectLink } from "./formats";
import type { BoundAddress } from "./transport";

export * from "./coap";
export * from "./formats";
export * from "./transport";
export * from "./bootstrap-server";
export * from "./lwm2m-server";

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
}

export interface DevServers {
  bootstrap: BootstrapServer;
  server: LwM2MServer;
  bootstrapAddress: BoundAddress;
  serverAddress: BoundAddress;
  /** coap://address:port of each. */
  bootstrapUri: string;
  serverUri: string;
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

/** Starts both servers; the LwM2M Server's port fills {serverPort} / {serverHost} in Security URIs. */
export async function startDevServers(opts: DevServersOptions): Promise<DevServers> {
  const address = opts.address ?? "127.0.0.1";
  const log = opts.log === false ? () => {} : opts.log ?? ((l: string) => console.log(l));
  loadBootstrapConfig(opts.config); // fail early on a bad file
  const server = new LwM2MServer({ coap: opts.coap, lifetimeGraceMs: opts.lifetimeGraceMs });
  const serverAddress = await server.listen(opts.serverPort ?? 5683, address);
  const bootstrap = new BootstrapServer({
    config: opts.config, coap: opts.coap,
    uriVariables: { serverPort: serverAddress.port, serverHost: hostOf(serverAddress) },
  });
  let bootstrapAddress: BoundAddress;
  try {
    bootstrapAddress = await bootstrap.listen(opts.bootstrapPort ?? 5783, address);
  } catch (e) {
    await server.close();
    throw e;
  }

  bootstrap.on("warning", (w: string) => log(`[bootstrap] warning: ${w}`));
  bootstrap.on("bootstrapRequest", (e: { endpoint: string; peerKey: string; preferredFormat?: number }) =>
    log(`[bootstrap] ${e.endpoint}: Bootstrap-Request from ${e.peerKey}${e.preferredFormat !== undefined ? ` (pct=${e.preferredFormat})` : ""}`));
  bootstrap.on("bootstrapOperation", (e: { endpoint: string; op: string; path: string; code: string }) =>
    log(`[bootstrap] ${e.endpoint}: Bootstrap-${e.op} ${e.path} -> ${e.code}`));
  bootstrap.on("bootstrapFinished", (r: BootstrapResult) =>
    log(`[bootstrap] ${r.endpoint}: ${r.ok ? "bootstrap finished (2.04)" : `bootstrap REFUSED by the client (${r.code})`}`));
  bootstrap.on("bootstrapFailed", (r: BootstrapResult) => log(`[bootstrap] ${r.endpoint}: bootstrap failed: ${r.error}`));

  const desc = (r: Registration) => `lt=${r.lifetime} lwm2m=${r.version} b=${r.binding}${r.queueMode ? " queue" : ""} from ${r.peerKey}${r.secure ? " (secure)" : " (NoSec)"}`;
  server.on("registered", (r: Registration) => log(`[server] ${r.endpoint}: registered /rd/${r.id} ${desc(r)} ${formatLinkFormat(r.objectLinks)}`));
  server.on("updated", (r: Registration, ch: Record<string, unknown>) => log(`[server] ${r.endpoint}: updated /rd/${r.id}${Object.keys(ch).length ? ` (${Object.keys(ch).join(", ")})` : ""}`));
  server.on("deregistered", (r: Registration) => log(`[server] ${r.endpoint}: deregistered /rd/${r.id}`));
  server.on("expired", (r: Registration) => log(`[server] ${r.endpoint}: registration /rd/${r.id} expired`));
  server.on("notification", (n: Notification) =>
    log(`[server] ${n.endpoint}: notification ${n.path} #${n.observe ?? "-"} ${n.code} ${n.content ? formatEntries(n.content) : n.decodeError ?? toText(n.payload)}`));
  server.on("send", (e: { registration: Registration; content: LwM2MEntry[] }) => log(`[server] ${e.registration.endpoint}: Send ${formatEntries(e.content)}`));

  const bootstrapUri = `coap://${hostOf(bootstrapAddress)}:${bootstrapAddress.port}`;
  const serverUri = `coap://${hostOf(serverAddress)}:${serverAddress.port}`;
  log(`[bootstrap] listening on ${bootstrapUri}`);
  log(`[server] listening on ${serverUri}`);
  return {
    bootstrap, server, bootstrapAddress, serverAddress, bootstrapUri, serverUri,
    async close() { await bootstrap.close(); await server.close(); },
  };
}

/**
 * PSK credentials the configuration implies, for a DTLS transport's store:
 * what each client uses towards the Bootstrap-Server (bootstrapCredentials)
 * and towards the LwM2M Server (its non-bootstrap PSK Security instances).
 */
export function pskCredentialsFromConfig(source: string | BootstrapConfig): { bootstrap: Map<string, Uint8Array>; server: Map<string, Uint8Array> } {
  const { config, baseDir } = loadBootstrapConfig(source);
  const bootstrap = new Map<string, Uint8Array>();
  const server = new Map<string, Uint8Array>();
  for (const [name, c] of Object.entries(config)) {
    if (name.startsWith("$")) continue;
    const bc = c.bootstrapCredentials;
    if (bc?.pskIdentity && bc.pskKey) bootstrap.set(bc.pskIdentity, keyBytes(bc.pskKey, baseDir, "pskKey"));
    for (const s of c.security) {
      const mode = s.securityMode === "psk" || s.securityMode === 0;
      if (mode && s.pskIdentity && s.pskKey) (s.bootstrapServer ? bootstrap : server).set(s.pskIdentity, keyBytes(s.pskKey, baseDir, "pskKey"));
    }
  }
  return { bootstrap, server };
}

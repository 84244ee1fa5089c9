// LwM2M Bootstrap-Server for development (OMA-TS-LightweightM2M_Core V1.1
// §6.1 Bootstrap interface, §5.2.7 Bootstrap operations): answers the
// client's Bootstrap-Request (POST /bs?ep=NAME[&pct=F]) with 2.04, then runs
// the endpoint's configuration: Bootstrap-Delete, Bootstrap-Discover,
// Bootstrap-Write of every Security (/0) and Server (/1) instance,
// Bootstrap-Read, and Bootstrap-Finish (POST /bs), whose 2.04 or 4.06
// (configuration refused) is reported as an event. Server-initiated
// bootstrap runs the same sequence towards a client that did not ask.
import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";
import {
  CoapEndpoint, CoapResponse, Code, ContentFormat, IncomingRequest, OutgoingResponse, TransmissionParams,
  codeString, isSuccess, queryRecord, toBytes,
} from "./coap";
import {
  FormatName, Link, LwM2MEntry, LwM2MValue, TypeResolver, builtinTypes, decodeContent, encodeContent, formatNumber,
  parseLinkFormat, splitPath,
} from "./formats";
import { BoundAddress, PeerInfo, ServerTransport, listenUdp, parsePeerKey } from "./transport";
import { DEV_KDF, devPsk } from "./dev-psk";

// ---- configuration ----------------------------------------------------------------------------

export type SecurityModeName = "psk" | "rpk" | "x509" | "nosec" | "est";
const SECURITY_MODES: Record<SecurityModeName, number> = { psk: 0, rpk: 1, x509: 2, nosec: 3, est: 4 };

/** One Security Object (/0) instance (LwM2M 1.1 Appendix E.1). */
export interface SecurityInstanceConfig {
  instanceId?: number;
  /** 0 LwM2M Server URI. */
  uri: string;
  /** 1 Bootstrap-Server (default false). */
  bootstrapServer?: boolean;
  /** 2 Security Mode: psk / rpk / x509 / nosec / est, or 0..4. */
  securityMode: SecurityModeName | number;
  /** 3 for PSK: the PSK identity (UTF-8). */
  pskIdentity?: string;
  /** 5 for PSK: the key, hex, or "dev-kdf": derived from the identity by the development-only KDF (server/dev-psk.ts). */
  pskKey?: string;
  /** 3 for RPK / X.509: our public key or certificate (hex, PEM text, or a PEM/DER file path). */
  publicKey?: string;
  /** 4 the server's public key or certificate (hex, PEM text, or a PEM/DER file path). */
  serverPublicKey?: string;
  /** 5 for RPK / X.509: our private key (hex, PEM text, or a PEM/DER file path). */
  secretKey?: string;
  /** 10 Short Server ID (mandatory for a non-bootstrap account). */
  shortServerId?: number;
  /** 11 Client Hold Off Time (s). */
  clientHoldOffTime?: number;
  /** 12 Bootstrap-Server Account Timeout (s). */
  bootstrapServerAccountTimeout?: number;
  /** 13 Matching Type (0 exact, 1 SHA-256, 2 SHA-384, 3 SHA-512). */
  matchingType?: number;
  /** 14 SNI. */
  sni?: string;
  /** 15 Certificate Usage (0..3). */
  certificateUsage?: number;
  /** 16 DTLS/TLS Ciphersuite (IANA values). */
  ciphersuites?: number[];
  /** Any further resources by id. */
  resources?: Record<string, LwM2MValue | LwM2MValue[]>;
}

/** One Server Object (/1) instance (LwM2M 1.1 Appendix E.2). */
export interface ServerInstanceConfig {
  instanceId?: number;
  shortServerId: number; // 0
  lifetime: number; // 1
  defaultMinPeriod?: number; // 2
  defaultMaxPeriod?: number; // 3
  disableTimeout?: number; // 5
  notificationStoring?: boolean; // 6 (default true)
  binding?: string; // 7 (default "U")
  registrationPriorityOrder?: number; // 13
  initialRegistrationDelayTimer?: number; // 14
  registrationFailureBlock?: boolean; // 15
  bootstrapOnRegistrationFailure?: boolean; // 16
  communicationRetryCount?: number; // 17
  communicationRetryTimer?: number; // 18
  communicationSequenceDelayTimer?: number; // 19
  communicationSequenceRetryCount?: number; // 20
  preferredTransport?: string; // 22
  muteSend?: boolean; // 23
  resources?: Record<string, LwM2MValue | LwM2MValue[]>;
}

export interface EndpointConfig {
  /** Bootstrap-Delete targets before writing (default ["/0", "/1"]; [] for none). */
  delete?: string[];
  /** Bootstrap-Discover "/" before writing (default true): auto instance ids avoid what the client still has. */
  discover?: boolean;
  security: SecurityInstanceConfig[];
  servers?: ServerInstanceConfig[];
  /** Further Bootstrap-Writes: path → resources by id (e.g. {"/2/0": {"0": 1, "1": 0, "3": 101}}). */
  writes?: Record<string, Record<string, LwM2MValue | LwM2MValue[]>>;
  /** Bootstrap-Read targets after the writes (e.g. ["/1"]). */
  read?: string[];
  /** Payload format of the writes (default: the client's pct if supported, else TLV). */
  format?: "tlv" | "senml-cbor" | "senml-json";
  /** How this client authenticates to the Bootstrap-Server itself (for a DTLS transport's credential store). */
  bootstrapCredentials?: { pskIdentity?: string; pskKey?: string; publicKey?: string };
}

/** The configuration file: JSON keyed by endpoint name ("*" = any other endpoint). */
export type BootstrapConfig = Record<string, EndpointConfig>;

export class ConfigError extends Error {
  constructor(msg: string) { super(msg); this.name = "ConfigError"; }
}

/** Hex, inline PEM, or a path (relative to baseDir) to a PEM or DER file → bytes (PEM: the first block's DER). */
export function keyBytes(value: string, baseDir = process.cwd(), what = "key"): Uint8Array {
  const v = value.trim();
  if (/^([0-9a-fA-F]{2})+$/.test(v)) return new Uint8Array(Buffer.from(v, "hex"));
  let text: string | null = v.startsWith("-----BEGIN") ? v : null;
  if (!text) {
    const file = path.resolve(baseDir, v);
    if (!fs.existsSync(file)) throw new ConfigError(`${what}: '${value}' is neither hex nor an existing file`);
    const raw = fs.readFileSync(file);
    if (!raw.subarray(0, 64).toString("latin1").includes("-----BEGIN")) return new Uint8Array(raw);
    text = raw.toString("latin1");
  }
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) throw new ConfigError(`${what}: malformed PEM`);
  return new Uint8Array(Buffer.from(m[2].replace(/\s+/g, ""), "base64"));
}

function checkInt(v: unknown, what: string, min: number, max: number) {
  if (v === undefined) return;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${what} must be an integer in ${min}..${max}`);
}

/** Validates an endpoint configuration's shape (not its consistency: a dev server must be able to send broken ones). */
export function validateEndpointConfig(name: string, c: EndpointConfig) {
  const at = (s: string) => `${name}: ${s}`;
  if (typeof c !== "object" || c === null) throw new ConfigError(at("configuration must be an object"));
  if (!Array.isArray(c.security)) throw new ConfigError(at("'security' must be an array"));
  c.security.forEach((s, i) => {
    const w = (x: string) => at(`security[${i}].${x}`);
    if (typeof s.uri !== "string" || !/^coaps?(\+tcp)?:\/\//.test(s.uri) && !/^(sms|lorawan):/.test(s.uri)) throw new ConfigError(w("uri must be a coap:// or coaps:// URI"));
    const mode = typeof s.securityMode === "number" ? s.securityMode : SECURITY_MODES[s.securityMode as SecurityModeName];
    if (mode === undefined || mode < 0 || mode > 4) throw new ConfigError(w("securityMode must be psk, rpk, x509, nosec, est or 0..4"));
    if (mode === 0 && (!s.pskIdentity || !s.pskKey)) throw new ConfigError(w("PSK mode needs pskIdentity and pskKey"));
    if (s.pskKey !== undefined && !isPskKey(s.pskKey)) throw new ConfigError(w(`pskKey must be hex or "${DEV_KDF}"`));
    if (mode === 0 && s.publicKey) throw new ConfigError(w("PSK mode takes pskIdentity, not publicKey"));
    if (!s.bootstrapServer && s.shortServerId === undefined) throw new ConfigError(w("shortServerId is mandatory for an LwM2M Server account"));
    checkInt(s.instanceId, w("instanceId"), 0, 65534);
    checkInt(s.shortServerId, w("shortServerId"), 1, 65534);
    checkInt(s.clientHoldOffTime, w("clientHoldOffTime"), 0, 2 ** 31 - 1);
    checkInt(s.bootstrapServerAccountTimeout, w("bootstrapServerAccountTimeout"), 0, 2 ** 31 - 1);
    checkInt(s.matchingType, w("matchingType"), 0, 3);
    checkInt(s.certificateUsage, w("certificateUsage"), 0, 3);
  });
  const bk = c.bootstrapCredentials?.pskKey;
  if (bk !== undefined && !isPskKey(bk)) throw new ConfigError(at(`bootstrapCredentials.pskKey must be hex or "${DEV_KDF}"`));
  (c.servers ?? []).forEach((s, i) => {
    const w = (x: string) => at(`servers[${i}].${x}`);
    checkInt(s.instanceId, w("instanceId"), 0, 65534);
    checkInt(s.shortServerId, w("shortServerId"), 1, 65534);
    if (s.shortServerId === undefined) throw new ConfigError(w("shortServerId is mandatory"));
    if (s.lifetime === undefined) throw new ConfigError(w("lifetime is mandatory"));
    checkInt(s.lifetime, w("lifetime"), 1, 2 ** 31 - 1);
  });
  for (const p of [...(c.delete ?? []), ...(c.read ?? []), ...Object.keys(c.writes ?? {})]) {
    try { splitPath(p); } catch { throw new ConfigError(at(`'${p}' is not an LwM2M path`)); }
  }
  if (c.format !== undefined && !["tlv", "senml-cbor", "senml-json"].includes(c.format)) throw new ConfigError(at("format must be tlv, senml-cbor or senml-json"));
}

/** Consistency warnings (what a client would refuse at Bootstrap-Finish, BS-5). */
export function configWarnings(name: string, c: EndpointConfig): string[] {
  const w: string[] = [];
  const ssids = new Set((c.servers ?? []).map((s) => s.shortServerId));
  for (const s of c.security) {
    if (!s.bootstrapServer && s.shortServerId !== undefined && !ssids.has(s.shortServerId)) w.push(`${name}: security account ${s.uri} (ssid ${s.shortServerId}) has no Server instance`);
    const mode = typeof s.securityMode === "number" ? s.securityMode : SECURITY_MODES[s.securityMode];
    if (mode === 3) w.push(`${name}: ${s.uri} uses NoSec (security mode 3)`);
  }
  for (const s of c.servers ?? []) {
    if (!c.security.some((x) => !x.bootstrapServer && x.shortServerId === s.shortServerId)) w.push(`${name}: server ssid ${s.shortServerId} has no Security instance`);
  }
  if (!c.security.some((s) => !s.bootstrapServer)) w.push(`${name}: no LwM2M Server account`);
  return w;
}

/** Loads and validates a configuration (a file path or an object); key file paths resolve relative to the file. */
export function loadBootstrapConfig(source: string | BootstrapConfig): { config: BootstrapConfig; baseDir: string; warnings: string[] } {
  let config: BootstrapConfig;
  let baseDir = process.cwd();
  if (typeof source === "string") {
    baseDir = path.dirname(path.resolve(source));
    try { config = JSON.parse(fs.readFileSync(source, "utf8")); } catch (e) {
      throw new ConfigError(`cannot read bootstrap configuration '${source}': ${(e as Error).message}`);
    }
  } else config = source;
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new ConfigError("the configuration must be a JSON object keyed by endpoint name");
  const warnings: string[] = [];
  for (const [name, c] of Object.entries(config)) {
    if (name.startsWith("$")) continue; // "$comment" and the like
    validateEndpointConfig(name, c);
    warnings.push(...configWarnings(name, c));
  }
  return { config, baseDir, warnings };
}

const isPskKey = (k: string) => k === DEV_KDF || /^([0-9a-fA-F]{2})+$/.test(k);

/** A configured PSK: hex, or "dev-kdf" = the development key of `identity` (server/dev-psk.ts). */
export function pskKeyBytes(pskKey: string, identity: string, baseDir = process.cwd()): Uint8Array {
  return pskKey === DEV_KDF ? devPsk(identity) : keyBytes(pskKey, baseDir, "pskKey");
}

/** A configuration key with a "*" other than "*" itself (e.g. "fleet-*") serves the endpoints it matches. */
export const isEndpointPattern = (name: string) => name !== "*" && name.includes("*") && !name.startsWith("$");
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** The regular expression source of an endpoint pattern ("*" = one or more characters). */
export const endpointPatternSource = (name: string) => name.split("*").map(escapeRe).join(".+");
/** The regular expression source of a PSK identity with {endpoint} ("{endpoint}-bs") in the entry `name` ("fleet-*" or "*"). */
export const identityPatternSource = (identity: string, name: string) =>
  identity.split("{endpoint}").map(escapeRe).join(`(?:${endpointPatternSource(name)})`);

/** `{name}` in a URI or key-file value replaced by vars[name]; unknown names stay as they are. */
export function fillVariables(value: string, vars: Record<string, string | number>): string {
  return value.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** Resources of a Security instance by id. */
export function securityResources(s: SecurityInstanceConfig, baseDir: string, vars: Record<string, string | number> = {}): Record<number, LwM2MValue | LwM2MValue[]> {
  const mode = typeof s.securityMode === "number" ? s.securityMode : SECURITY_MODES[s.securityMode];
  const fill = (v: string) => fillVariables(v, vars);
  const r: Record<number, LwM2MValue | LwM2MValue[]> = {
    0: fill(s.uri),
    1: s.bootstrapServer ?? false,
    2: mode,
    3: s.pskIdentity !== undefined ? toBytes(fill(s.pskIdentity)) : s.publicKey ? keyBytes(fill(s.publicKey), baseDir, "publicKey") : new Uint8Array(0),
    4: s.serverPublicKey ? keyBytes(fill(s.serverPublicKey), baseDir, "serverPublicKey") : new Uint8Array(0),
    5: s.pskKey !== undefined ? pskKeyBytes(s.pskKey, fill(s.pskIdentity ?? ""), baseDir) : s.secretKey ? keyBytes(fill(s.secretKey), baseDir, "secretKey") : new Uint8Array(0),
  };
  if (s.shortServerId !== undefined) r[10] = s.shortServerId;
  if (s.clientHoldOffTime !== undefined) r[11] = s.clientHoldOffTime;
  if (s.bootstrapServerAccountTimeout !== undefined) r[12] = s.bootstrapServerAccountTimeout;
  if (s.matchingType !== undefined) r[13] = s.matchingType;
  if (s.sni !== undefined) r[14] = s.sni;
  if (s.certificateUsage !== undefined) r[15] = s.certificateUsage;
  if (s.ciphersuites !== undefined) r[16] = s.ciphersuites;
  for (const [k, v] of Object.entries(s.resources ?? {})) r[Number(k)] = v;
  return r;
}

export function serverResources(s: ServerInstanceConfig): Record<number, LwM2MValue | LwM2MValue[]> {
  const r: Record<number, LwM2MValue | LwM2MValue[]> = {
    0: s.shortServerId, 1: s.lifetime, 6: s.notificationStoring ?? true, 7: s.binding ?? "U",
  };
  const opt: [keyof ServerInstanceConfig, number][] = [
    ["defaultMinPeriod", 2], ["defaultMaxPeriod", 3], ["disableTimeout", 5], ["registrationPriorityOrder", 13],
    ["initialRegistrationDelayTimer", 14], ["registrationFailureBlock", 15], ["bootstrapOnRegistrationFailure", 16],
    ["communicationRetryCount", 17], ["communicationRetryTimer", 18], ["communicationSequenceDelayTimer", 19],
    ["communicationSequenceRetryCount", 20], ["preferredTransport", 22], ["muteSend", 23],
  ];
  for (const [k, id] of opt) if (s[k] !== undefined) r[id] = s[k] as LwM2MValue;
  for (const [k, v] of Object.entries(s.resources ?? {})) r[Number(k)] = v;
  return r;
}

// ---- the server --------------------------------------------------------------------------------

export interface BootstrapOperation { op: "Delete" | "Discover" | "Write" | "Read" | "Finish"; path: string; code: string; ok: boolean }

export interface BootstrapResult {
  endpoint: string;
  peerKey: string;
  /** true when Bootstrap-Finish was answered 2.04. */
  ok: boolean;
  /** Bootstrap-Finish response code ("2.04", "4.06" = configuration refused), or the code of the failed step. */
  code?: string;
  operations: BootstrapOperation[];
  discovered?: Link[];
  reads: { path: string; content?: LwM2MEntry[]; code: string }[];
  /** Why the session stopped before Bootstrap-Finish. */
  error?: string;
}

export interface BootstrapServerOptions {
  config: string | BootstrapConfig;
  coap?: Partial<TransmissionParams>;
  types?: TypeResolver;
  /** Values for {name} placeholders in Security URIs (e.g. {serverPort}). */
  uriVariables?: Record<string, string | number>;
  /** Accepts or refuses (4.03) a Bootstrap-Request. Default: PSK identity must match bootstrapCredentials.pskIdentity when both are known. */
  authorize?: (endpoint: string, peer: PeerInfo, config: EndpointConfig) => boolean;
  /** Extra resources served before /bs (the EST-coaps RA, server/est.ts): null = not its path. */
  extraResources?: { handle(req: IncomingRequest): Promise<OutgoingResponse> | null };
}

const FORMAT_OF_PCT: Record<number, "tlv" | "senml-cbor" | "senml-json"> = {
  [ContentFormat.TLV]: "tlv", [ContentFormat.SENML_CBOR]: "senml-cbor", [ContentFormat.SENML_JSON]: "senml-json",
};

/**
 * Events: 'bootstrapRequest' ({endpoint, peerKey, peer, preferredFormat}),
 * 'bootstrapOperation' ({endpoint, ...BootstrapOperation}), 'bootstrapFinished'
 * (BootstrapResult, ok or the 4.06 refusal), 'bootstrapFailed' (BootstrapResult
 * with error: a step failed or timed out before Finish), 'warning' (string).
 */
export class BootstrapServer extends EventEmitter {
  config: BootstrapConfig;
  baseDir: string;
  readonly types: TypeResolver;
  uriVariables: Record<string, string | number>;
  private endpoints: CoapEndpoint[] = [];
  private owned: ServerTransport[] = [];
  private sessions = new Map<string, { cancelled: boolean }>();

  constructor(readonly options: BootstrapServerOptions) {
    super();
    const { config, baseDir, warnings } = loadBootstrapConfig(options.config);
    this.config = config;
    this.baseDir = baseDir;
    this.types = options.types ?? builtinTypes;
    this.uriVariables = options.uriVariables ?? {};
    for (const w of warnings) setImmediate(() => this.emit("warning", w));
  }

  listen(port = 5783, address = "127.0.0.1"): Promise<BoundAddress> {
    return listenUdp(this.owned, (t) => this.addTransport(t), port, address);
  }

  addTransport(transport: ServerTransport): CoapEndpoint {
    const ep = new CoapEndpoint(transport, this.options.coap ?? {}, (req) => this.handle(ep, req));
    this.endpoints.push(ep);
    return ep;
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) s.cancelled = true;
    for (const ep of this.endpoints) await ep.close();
    for (const t of this.owned) await t.close();
    this.endpoints = [];
    this.owned = [];
  }

  /** The endpoint's configuration: its own entry, else the longest matching pattern ("fleet-*"), else "*". */
  configFor(endpoint: string): EndpointConfig | undefined {
    if (Object.prototype.hasOwnProperty.call(this.config, endpoint)) return this.config[endpoint];
    const pattern = Object.keys(this.config).filter(isEndpointPattern).sort((a, b) => b.length - a.length)
      .find((name) => new RegExp(`^${endpointPatternSource(name)}$`).test(endpoint));
    return pattern ? this.config[pattern] : this.config["*"];
  }

  private handle(coap: CoapEndpoint, req: IncomingRequest): OutgoingResponse | Promise<OutgoingResponse> {
    const extra = this.options.extraResources?.handle(req);
    if (extra) return extra;
    if (req.path !== "/bs") return { code: Code.NOT_FOUND };
    if (req.code !== Code.POST) return { code: Code.METHOD_NOT_ALLOWED };
    const q = queryRecord(req.query);
    const endpoint = q.ep;
    if (!endpoint) return { code: Code.BAD_REQUEST, payload: toBytes("missing endpoint name (ep)") };
    const config = this.configFor(endpoint);
    if (!config) return { code: Code.BAD_REQUEST, payload: toBytes(`no bootstrap configuration for '${endpoint}'`) };
    const authorize = this.options.authorize ?? defaultAuthorize;
    if (!authorize(endpoint, req.peer, config)) return { code: Code.FORBIDDEN };
    let pct: number | undefined;
    if (q.pct !== undefined) {
      pct = Number(q.pct);
      if (!Number.isInteger(pct) || pct < 0 || pct > 65535) return { code: Code.BAD_REQUEST, payload: toBytes("bad pct") };
    }
    this.emit("bootstrapRequest", { endpoint, peerKey: req.peerKey, peer: req.peer, preferredFormat: pct });
    // the operations start once the 2.04 is on its way
    setImmediate(() => { void this.run(coap, endpoint, req.peerKey, config, pct); });
    return { code: Code.CHANGED };
  }

  /**
   * Server-initiated bootstrap (§6.1.1): sends the endpoint's configuration
   * and Bootstrap-Finish to a client at `target` (peer key "host:port" or
   * "coap://host:port") over the first transport (or the one given).
   */
  bootstrap(endpoint: string, target: string, transport?: ServerTransport): Promise<BootstrapResult> {
    const config = this.configFor(endpoint);
    if (!config) return Promise.reject(new Error(`no bootstrap configuration for '${endpoint}'`));
    const coap = transport ? this.endpoints.find((e) => e.transport === transport) : this.endpoints[0];
    if (!coap) return Promise.reject(new Error("the bootstrap server is not listening"));
    const m = /^(?:coaps?:\/\/)?\[?([^\]/]+?)\]?:(\d+)\/?$/.exec(target);
    if (!m) return Promise.reject(new Error(`bad target '${target}' (host:port or coap://host:port)`));
    const { address, port } = parsePeerKey(`${m[1].includes(":") ? `[${m[1]}]` : m[1]}:${m[2]}`);
    return this.run(coap, endpoint, coap.transport.peerKeyFor(address, port), config, undefined);
  }

  private async run(coap: CoapEndpoint, endpoint: string, peerKey: string, config: EndpointConfig, pct: number | undefined): Promise<BootstrapResult> {
    const prev = this.sessions.get(endpoint);
    if (prev) prev.cancelled = true; // a new Bootstrap-Request supersedes a running session
    const session = { cancelled: false };
    this.sessions.set(endpoint, session);
    const result: BootstrapResult = { endpoint, peerKey, ok: false, operations: [], reads: [] };
    const format = config.format ?? (pct !== undefined ? FORMAT_OF_PCT[pct] : undefined) ?? "tlv";
    const cf = formatNumber(format as FormatName);
    const step = async (op: BootstrapOperation["op"], p: string, req: Parameters<CoapEndpoint["request"]>[1]): Promise<CoapResponse> => {
      if (session.cancelled) throw new Error("superseded by a new Bootstrap-Request");
      const r = await coap.request(peerKey, req);
      const rec: BootstrapOperation = { op, path: p, code: codeString(r.code), ok: isSuccess(r.code) };
      result.operations.push(rec);
      this.emit("bootstrapOperation", { endpoint, ...rec });
      return r;
    };
    try {
      for (const p of config.delete ?? ["/0", "/1"]) await step("Delete", p, { code: Code.DELETE, path: p });

      const used = { 0: new Set<number>(), 1: new Set<number>() } as Record<number, Set<number>>;
      if (config.discover ?? true) {
        const r = await step("Discover", "/", { code: Code.GET, path: "/", accept: ContentFormat.LINK_FORMAT });
        if (isSuccess(r.code)) {
          try {
            result.discovered = parseLinkFormat(r.payload);
            for (const l of result.discovered) {
              const ids = /^\/\d+(\/\d+)?$/.test(l.uri) ? splitPath(l.uri) : [];
              if (ids.length === 2 && (ids[0] === 0 || ids[0] === 1)) used[ids[0]].add(ids[1]);
            }
          } catch (e) { this.emit("warning", `${endpoint}: Bootstrap-Discover answer not understood: ${(e as Error).message}`); }
        }
      }
      const pick = (oid: number, explicit: number | undefined): number => {
        if (explicit !== undefined) { used[oid].add(explicit); return explicit; }
        let id = 0;
        while (used[oid].has(id)) id++;
        used[oid].add(id);
        return id;
      };
      for (const s of config.security) if (s.instanceId !== undefined) used[0].add(s.instanceId);
      for (const s of config.servers ?? []) if (s.instanceId !== undefined) used[1].add(s.instanceId);

      const writes: [string, Record<number, LwM2MValue | LwM2MValue[]>][] = [];
      const vars = { ...this.uriVariables, endpoint };
      for (const s of config.security) writes.push([`/0/${s.instanceId ?? pick(0, undefined)}`, securityResources(s, this.baseDir, vars)]);
      for (const s of config.servers ?? []) writes.push([`/1/${s.instanceId ?? pick(1, undefined)}`, serverResources(s)]);
      for (const [p, res] of Object.entries(config.writes ?? {})) writes.push([p, Object.fromEntries(Object.entries(res).map(([k, v]) => [Number(k), v]))]);
      for (const [p, res] of writes) {
        const payload = encodeContent(cf, entriesOf(p, res), p, this.types);
        const r = await step("Write", p, { code: Code.PUT, path: p, contentFormat: cf, payload });
        if (!isSuccess(r.code)) { result.code = codeString(r.code); throw new Error(`Bootstrap-Write ${p} refused with ${codeString(r.code)}`); }
      }

      for (const p of config.read ?? []) {
        const r = await step("Read", p, { code: Code.GET, path: p, accept: cf });
        const rec: BootstrapResult["reads"][number] = { path: p, code: codeString(r.code) };
        if (isSuccess(r.code) && r.payload.length) {
          try { rec.content = decodeContent(r.contentFormat ?? cf, r.payload, p, this.types); } catch (e) {
            this.emit("warning", `${endpoint}: Bootstrap-Read ${p} answer not understood: ${(e as Error).message}`);
          }
        }
        result.reads.push(rec);
      }

      const fin = await step("Finish", "/bs", { code: Code.POST, path: "/bs" });
      result.code = codeString(fin.code);
      result.ok = fin.code === Code.CHANGED;
      this.emit("bootstrapFinished", result);
    } catch (e) {
      result.error = (e as Error).message;
      this.emit("bootstrapFailed", result);
    } finally {
      if (this.sessions.get(endpoint) === session) this.sessions.delete(endpoint);
    }
    return result;
  }
}

function entriesOf(p: string, res: Record<number, LwM2MValue | LwM2MValue[]>): LwM2MEntry[] {
  const out: LwM2MEntry[] = [];
  for (const [rid, v] of Object.entries(res)) {
    if (Array.isArray(v)) v.forEach((x, i) => out.push({ path: `${p}/${rid}/${i}`, value: x }));
    else out.push({ path: `${p}/${rid}`, value: v });
  }
  return out;
}

function defaultAuthorize(endpoint: string, peer: PeerInfo, config: EndpointConfig): boolean {
  const template = config.bootstrapCredentials?.pskIdentity;
  const expected = template && fillVariables(template, { endpoint });
  if (!peer.secure || !expected || peer.identity?.kind !== "psk") return true;
  return peer.identity.identity === expected;
}

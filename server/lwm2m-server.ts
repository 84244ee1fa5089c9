// LwM2M Server for development (OMA-TS-LightweightM2M_Core V1.1): the
// Registration interface server side (§6.2: Register, Update, De-register,
// lifetime expiry), the Device Management and Information Reporting
// interfaces as a promise API (§6.3, §6.4: Read, Write, Execute, Create,
// Delete, Discover, Write-Attributes, Observe / Cancel), and Send (§6.4.6).
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import {
  CoapEndpoint, CoapResponse, Code, ContentFormat, IncomingRequest, OutgoingResponse, TransmissionParams,
  codeString, isSuccess, locationPathOf, queryRecord, toBytes, Observation, Opt, encodeBlock,
} from "./coap";
import {
  FormatError, FormatName, Link, LwM2MEntry, LwM2MValue, TypeResolver, builtinTypes, decodeContent, encodeContent,
  formatNumber, parseLinkFormat, splitPath,
} from "./formats";
import { BoundAddress, PeerIdentity, PeerInfo, ServerTransport, listenUdp } from "./transport";

export interface Registration {
  id: string;
  endpoint: string;
  /** Registration lifetime in seconds (lt). */
  lifetime: number;
  /** LwM2M version the client announced (lwm2m). */
  version: string;
  binding: string;
  queueMode: boolean;
  sms?: string;
  /** Objects and instances from the Register/Update payload. */
  objectLinks: Link[];
  /** Alternate root path (a link with rt="oma.lwm2m"), "" when none. */
  rootPath: string;
  peerKey: string;
  address: string;
  port: number;
  secure: boolean;
  identity?: PeerIdentity;
  transport: ServerTransport;
  registeredAt: Date;
  updatedAt: Date;
  /** Epoch ms after which the registration expires. */
  expiresAt: number;
}

export interface LwM2MResponse {
  /** "2.05" etc. */
  code: string;
  codeNumber: number;
  ok: boolean;
  contentFormat?: number;
  /** Decoded values (Read, Observe, notifications). */
  content?: LwM2MEntry[];
  /** Decoded links (Discover). */
  links?: Link[];
  /** Location of a created instance ("/42/1"). */
  location?: string;
  /** Observe sequence number (notifications). */
  observe?: number;
  payload: Uint8Array;
  /** Why the payload could not be decoded, if it could not. */
  decodeError?: string;
}

export interface Notification extends LwM2MResponse { endpoint: string; path: string }

export interface ObservationHandle {
  endpoint: string;
  path: string;
  response: LwM2MResponse;
  established: boolean;
  cancel(mode?: "active" | "passive"): Promise<LwM2MResponse | void>;
}

export interface Attributes {
  pmin?: number | null; pmax?: number | null; gt?: number | null; lt?: number | null; st?: number | null;
  epmin?: number | null; epmax?: number | null;
}

export interface RequestOptions {
  /** Content format for the payload (writes) or to ask for (Accept, reads). */
  format?: FormatName | number;
  confirmable?: boolean;
  /** Reads: the block size (SZX, 0..6 = 16..1024 bytes) asked of the device up front (RFC 7959 §2.4 early negotiation). */
  blockSzx?: number;
}

export class LwM2MTimeoutError extends Error {
  constructor(readonly endpoint: string, readonly operation: string, cause: Error) {
    super(`${operation} on '${endpoint}' timed out: ${cause.message}`);
    this.name = "LwM2MTimeoutError";
  }
}

export class NotRegisteredError extends Error {
  constructor(readonly endpoint: string) { super(`endpoint '${endpoint}' is not registered`); this.name = "NotRegisteredError"; }
}

export interface LwM2MServerOptions {
  coap?: Partial<TransmissionParams>;
  /** Format of Write / Create payloads when none is asked for (default TLV). */
  defaultFormat?: FormatName;
  types?: TypeResolver;
  /** Extra time after a lifetime before the registration expires (default 2 s). */
  lifetimeGraceMs?: number;
  /** Queue Mode (LwM2M 1.1 Transport §6.5): how long a client registered with Q listens after its
   *  last message; later requests wait in a queue until it is heard again (default 93 000 ms,
   *  CoAP MAX_TRANSMIT_WAIT, RFC 7252 4.8.2). */
  queueWindowMs?: number;
  /** Accepts or refuses (4.03) a Register from a peer. Default: everyone. */
  authorize?: (endpoint: string, peer: PeerInfo) => boolean;
  /** Extra resources served before the Registration interface (the EST-coaps RA, server/est.ts): null = not its path. */
  extraResources?: { handle(req: IncomingRequest): Promise<OutgoingResponse> | null };
}

const SUPPORTED_VERSIONS = new Set(["1.0", "1.1", "1.2"]);

/**
 * Events: 'registered' (Registration, {replaced}), 'updated' (Registration,
 * changes), 'deregistered' (Registration), 'expired' (Registration),
 * 'notification' (Notification), 'send' ({registration, content}),
 * 'error' is never emitted (failures are in the promise results).
 */
export class LwM2MServer extends EventEmitter {
  private endpoints: CoapEndpoint[] = [];
  private owned: ServerTransport[] = [];
  private byId = new Map<string, Registration>();
  private byName = new Map<string, Registration>();
  private expiry = new Map<string, NodeJS.Timeout>();
  private observations = new Map<string, Set<ObservationHandle>>(); // registration id → handles
  readonly types: TypeResolver;
  readonly defaultFormat: FormatName;

  constructor(readonly options: LwM2MServerOptions = {}) {
    super();
    this.types = options.types ?? builtinTypes;
    this.defaultFormat = options.defaultFormat ?? "tlv";
  }

  /** Listens on plain CoAP (UDP) at port/address. */
  listen(port = 5683, address = "127.0.0.1"): Promise<BoundAddress> {
    return listenUdp(this.owned, (t) => this.addTransport(t), port, address);
  }

  /** Serves on an already bound transport (e.g. a DtlsTransport). */
  addTransport(transport: ServerTransport): CoapEndpoint {
    const ep = new CoapEndpoint(transport, this.options.coap ?? {}, (req) => this.handle(ep, req));
    this.endpoints.push(ep);
    return ep;
  }

  get registrations(): Registration[] { return [...this.byId.values()]; }
  getRegistration(endpoint: string): Registration | undefined { return this.byName.get(endpoint); }

  async close(): Promise<void> {
    for (const t of this.expiry.values()) clearTimeout(t);
    this.expiry.clear();
    for (const ep of this.endpoints) await ep.close();
    for (const t of this.owned) await t.close();
    this.endpoints = [];
    this.owned = [];
  }

  // ---- Registration interface (§6.2) ----

  private endpointOf(transport: ServerTransport): CoapEndpoint {
    const ep = this.endpoints.find((e) => e.transport === transport);
    if (!ep) throw new Error("transport not attached");
    return ep;
  }

  private async handle(coap: CoapEndpoint, req: IncomingRequest): Promise<OutgoingResponse> {
    const extra = this.options.extraResources?.handle(req);
    if (extra) return extra;
    const segs = req.path.split("/").filter((s) => s.length);
    if (segs[0] === "rd") {
      if (segs.length === 1) return req.code === Code.POST ? this.register(coap, req) : { code: Code.METHOD_NOT_ALLOWED };
      if (segs.length === 2) {
        const reg = this.byId.get(segs[1]);
        if (!reg) return { code: Code.NOT_FOUND };
        if (!sameClient(reg, req.peer)) return { code: Code.FORBIDDEN, payload: toBytes("not the registered client") };
        if (req.code === Code.POST) return this.update(coap, reg, req);
        if (req.code === Code.DELETE) { this.remove(reg, "deregistered"); return { code: Code.DELETED }; }
        return { code: Code.METHOD_NOT_ALLOWED };
      }
      return { code: Code.NOT_FOUND };
    }
    if (segs.length === 1 && segs[0] === "dp" && req.code === Code.POST) return this.onSend(req);
    return { code: Code.NOT_FOUND };
  }

  private parseLinks(req: IncomingRequest): Link[] | OutgoingResponse {
    if (req.payload.length === 0) return [];
    if (req.contentFormat !== undefined && req.contentFormat !== ContentFormat.LINK_FORMAT) return { code: Code.UNSUPPORTED_CONTENT_FORMAT };
    try { return parseLinkFormat(req.payload); } catch (e) {
      return { code: Code.BAD_REQUEST, payload: toBytes((e as Error).message) };
    }
  }

  private register(coap: CoapEndpoint, req: IncomingRequest): OutgoingResponse {
    const q = queryRecord(req.query);
    const endpoint = q.ep;
    if (!endpoint) return { code: Code.BAD_REQUEST, payload: toBytes("missing endpoint name (ep)") };
    const version = q.lwm2m ?? "1.0";
    if (!SUPPORTED_VERSIONS.has(version)) return { code: Code.PRECONDITION_FAILED, payload: toBytes(`unsupported LwM2M version ${version}`) };
    const lifetime = q.lt === undefined ? 86400 : Number(q.lt);
    if (!Number.isInteger(lifetime) || lifetime <= 0) return { code: Code.BAD_REQUEST, payload: toBytes("bad lifetime (lt)") };
    if (this.options.authorize && !this.options.authorize(endpoint, req.peer)) return { code: Code.FORBIDDEN };
    const links = this.parseLinks(req);
    if (!Array.isArray(links)) return links;
    const old = this.byName.get(endpoint);
    if (old) this.remove(old, null);
    const now = new Date();
    const binding = q.b ?? "U";
    const reg: Registration = {
      id: randomBytes(5).toString("hex"), endpoint, lifetime, version, binding,
      queueMode: "Q" in q || binding.includes("Q"), sms: q.sms, objectLinks: links, rootPath: rootPathOf(links),
      peerKey: req.peerKey, address: req.peer.address, port: req.peer.port, secure: req.peer.secure, identity: req.peer.identity,
      transport: coap.transport, registeredAt: now, updatedAt: now, expiresAt: 0,
    };
    this.byId.set(reg.id, reg);
    this.byName.set(endpoint, reg);
    this.arm(reg);
    this.heard(reg);
    setImmediate(() => this.emit("registered", reg, { replaced: !!old }));
    return { code: Code.CREATED, locationPath: ["rd", reg.id] };
  }

  private update(coap: CoapEndpoint, reg: Registration, req: IncomingRequest): OutgoingResponse {
    const q = queryRecord(req.query);
    const changes: Record<string, unknown> = {};
    if (q.lt !== undefined) {
      const lt = Number(q.lt);
      if (!Number.isInteger(lt) || lt <= 0) return { code: Code.BAD_REQUEST, payload: toBytes("bad lifetime (lt)") };
      if (lt !== reg.lifetime) changes.lifetime = lt;
      reg.lifetime = lt;
    }
    if (q.b !== undefined && q.b !== reg.binding) { changes.binding = q.b; reg.binding = q.b; }
    if (q.sms !== undefined) { changes.sms = q.sms; reg.sms = q.sms; }
    if (req.payload.length) {
      const links = this.parseLinks(req);
      if (!Array.isArray(links)) return links;
      reg.objectLinks = links;
      reg.rootPath = rootPathOf(links);
      changes.objectLinks = links;
    }
    if (req.peerKey !== reg.peerKey) {
      // the observations go with the registration to its new address (Core §6.4; sameClient checked the identity)
      const moved = coap.moveObservations(reg.peerKey, req.peerKey);
      if (moved) changes.observationsMoved = moved;
      changes.address = req.peerKey; reg.peerKey = req.peerKey; reg.address = req.peer.address; reg.port = req.peer.port;
    }
    reg.transport = coap.transport;
    reg.updatedAt = new Date();
    this.arm(reg);
    this.heard(reg);
    setImmediate(() => this.emit("updated", reg, changes));
    return { code: Code.CHANGED };
  }

  private arm(reg: Registration) {
    const grace = this.options.lifetimeGraceMs ?? 2000;
    reg.expiresAt = Date.now() + reg.lifetime * 1000 + grace;
    const old = this.expiry.get(reg.id);
    if (old) clearTimeout(old);
    const t = setTimeout(() => { if (this.byId.get(reg.id) === reg) this.remove(reg, "expired"); }, Math.min(reg.lifetime * 1000 + grace, 0x7fffffff));
    t.unref();
    this.expiry.set(reg.id, t);
  }

  private remove(reg: Registration, event: "deregistered" | "expired" | null) {
    this.byId.delete(reg.id);
    if (this.byName.get(reg.endpoint) === reg) this.byName.delete(reg.endpoint);
    const t = this.expiry.get(reg.id);
    if (t) clearTimeout(t);
    this.expiry.delete(reg.id);
    for (const h of this.observations.get(reg.id) ?? []) void h.cancel("passive");
    this.observations.delete(reg.id);
    if (event) setImmediate(() => this.emit(event, reg));
    // requests queued for a sleeping client that is gone now fail (NotRegisteredError)
    if (event && !this.byName.has(reg.endpoint)) this.heard(reg);
  }

  private onSend(req: IncomingRequest): OutgoingResponse {
    const reg = [...this.byId.values()].find((r) => r.peerKey === req.peerKey);
    if (!reg) return { code: Code.FORBIDDEN, payload: toBytes("not registered") };
    this.heard(reg);
    if (req.contentFormat !== ContentFormat.SENML_CBOR && req.contentFormat !== ContentFormat.SENML_JSON) return { code: Code.UNSUPPORTED_CONTENT_FORMAT };
    try {
      const content = decodeContent(req.contentFormat, req.payload, "/", this.types);
      setImmediate(() => this.emit("send", { registration: reg, content }));
      return { code: Code.CHANGED };
    } catch (e) {
      return { code: Code.BAD_REQUEST, payload: toBytes((e as Error).message) };
    }
  }

  // ---- Device Management & Information Reporting (§6.3, §6.4) ----

  private target(endpoint: string): { reg: Registration; coap: CoapEndpoint } {
    const reg = this.byName.get(endpoint);
    if (!reg) throw new NotRegisteredError(endpoint);
    return { reg, coap: this.endpointOf(reg.transport) };
  }

  private fullPath(reg: Registration, path: string): string {
    splitPath(path); // validates
    return (reg.rootPath + (path === "/" ? "" : path)) || "/";
  }

  private toResponse(r: CoapResponse, path: string, kind: "entries" | "links" | "none"): LwM2MResponse {
    const out: LwM2MResponse = {
      code: codeString(r.code), codeNumber: r.code, ok: isSuccess(r.code), contentFormat: r.contentFormat, payload: r.payload,
      observe: r.observe,
    };
    if (r.code === Code.CREATED) {
      const loc = locationPathOf(r.message);
      if (loc.length) out.location = "/" + loc.join("/");
    }
    if (!out.ok || r.payload.length === 0 || kind === "none") return out;
    try {
      if (kind === "links" || r.contentFormat === ContentFormat.LINK_FORMAT) out.links = parseLinkFormat(r.payload);
      else if (r.contentFormat === undefined) out.content = decodeContent(ContentFormat.TEXT, r.payload, path, this.types);
      else out.content = decodeContent(r.contentFormat, r.payload, path, this.types);
    } catch (e) {
      out.decodeError = (e as Error).message;
    }
    return out;
  }

  // ---- Queue Mode (LwM2M 1.1 Transport §6.5) ----
  /** Listen window of Queue Mode clients (ms); overrides options.queueWindowMs (the CLI / tests set it). */
  queueWindowMs?: number;
  private heardAt = new Map<string, number>();
  private queues = new Map<string, (() => void)[]>();

  /** The client sent something (Register, Update, Notify, Send): it listens again; queued requests go out. */
  private heard(reg: Registration): void {
    this.heardAt.set(reg.endpoint, Date.now());
    const q = this.queues.get(reg.endpoint);
    if (!q) return;
    this.queues.delete(reg.endpoint);
    // after the response to what woke it (the Update's 2.04 goes out first)
    setImmediate(() => { for (const go of q) go(); });
  }

  /** A client in Queue Mode is asleep once its listen window after its last message has passed. */
  isAsleep(endpoint: string): boolean {
    const reg = this.byName.get(endpoint);
    if (!reg?.queueMode) return false;
    return Date.now() - (this.heardAt.get(endpoint) ?? 0) >= (this.queueWindowMs ?? this.options.queueWindowMs ?? 93_000);
  }

  /** Requests waiting for a sleeping client. */
  queuedRequests(endpoint: string): number { return this.queues.get(endpoint)?.length ?? 0; }

  private async call(endpoint: string, operation: string, fn: (reg: Registration, coap: CoapEndpoint) => Promise<CoapResponse>): Promise<CoapResponse> {
    this.target(endpoint); // NotRegisteredError at once
    if (this.isAsleep(endpoint)) {
      await new Promise<void>((res) => {
        const q = this.queues.get(endpoint) ?? [];
        q.push(res);
        this.queues.set(endpoint, q);
        setImmediate(() => this.emit("queued", { endpoint, operation, queued: q.length }));
      });
    }
    const { reg, coap } = this.target(endpoint); // the client may have registered again while asleep
    try {
      return await fn(reg, coap);
    } catch (e) {
      if ((e as Error).name === "CoapTimeoutError") throw new LwM2MTimeoutError(endpoint, operation, e as Error);
      throw e;
    }
  }

  async read(endpoint: string, path: string, opts: RequestOptions = {}): Promise<LwM2MResponse> {
    const r = await this.call(endpoint, `Read ${path}`, (reg, coap) => coap.request(reg.peerKey, {
      code: Code.GET, path: this.fullPath(reg, path), accept: opts.format === undefined ? undefined : formatNumber(opts.format), confirmable: opts.confirmable,
      options: opts.blockSzx === undefined ? undefined : [{ number: Opt.BLOCK2, value: encodeBlock({ num: 0, more: false, szx: opts.blockSzx }) }],
    }));
    return this.toResponse(r, path, "entries");
  }

  /** Write: 'replace' = PUT, 'update' (partial) = POST (§6.3.3). A single value writes the resource at path. */
  async write(endpoint: string, path: string, values: LwM2MValue | LwM2MEntry[], opts: RequestOptions & { mode?: "replace" | "update" } = {}): Promise<LwM2MResponse> {
    const entries = Array.isArray(values) ? values : [{ path, value: values }];
    const format = formatNumber(opts.format ?? this.defaultFormat);
    const payload = encodeContent(format, entries, path, this.types);
    const r = await this.call(endpoint, `Write ${path}`, (reg, coap) => coap.request(reg.peerKey, {
      code: opts.mode === "update" ? Code.POST : Code.PUT, path: this.fullPath(reg, path), contentFormat: format, payload, confirmable: opts.confirmable,
    }));
    return this.toResponse(r, path, "none");
  }

  /** Execute (§6.3.5) with optional arguments (e.g. "0='a',1"). */
  async execute(endpoint: string, path: string, args?: string, opts: RequestOptions = {}): Promise<LwM2MResponse> {
    const r = await this.call(endpoint, `Execute ${path}`, (reg, coap) => coap.request(reg.peerKey, {
      code: Code.POST, path: this.fullPath(reg, path), payload: args ? toBytes(args) : undefined,
      contentFormat: args ? ContentFormat.TEXT : undefined, confirmable: opts.confirmable,
    }));
    return this.toResponse(r, path, "none");
  }

  /**
   * Create (§6.3.6) an instance of objectPath ("/42"): resources by id (an
   * array value = a multiple resource), with or without a chosen instance id.
   */
  async create(endpoint: string, objectPath: string, instance: { id?: number; resources: Record<number, LwM2MValue | LwM2MValue[]> }, opts: RequestOptions = {}): Promise<LwM2MResponse> {
    const oid = splitPath(objectPath);
    if (oid.length !== 1) throw new FormatError("create needs an object path like /42");
    const iid = instance.id ?? 0;
    const entries: LwM2MEntry[] = [];
    for (const [rid, v] of Object.entries(instance.resources)) {
      if (Array.isArray(v)) v.forEach((x, i) => entries.push({ path: `/${oid[0]}/${iid}/${rid}/${i}`, value: x }));
      else entries.push({ path: `/${oid[0]}/${iid}/${rid}`, value: v });
    }
    const format = formatNumber(opts.format ?? this.defaultFormat);
    let payload: Uint8Array;
    if (format === ContentFormat.TLV) payload = encodeContent(format, entries, instance.id === undefined ? `/${oid[0]}/0` : objectPath, this.types);
    else {
      if (instance.id === undefined) throw new FormatError("SenML Create needs an instance id");
      payload = encodeContent(format, entries, objectPath, this.types);
    }
    const r = await this.call(endpoint, `Create ${objectPath}`, (reg, coap) => coap.request(reg.peerKey, {
      code: Code.POST, path: this.fullPath(reg, objectPath), contentFormat: format, payload, confirmable: opts.confirmable,
    }));
    const out = this.toResponse(r, objectPath, "none");
    if (out.ok && !out.location && instance.id !== undefined) out.location = `/${oid[0]}/${instance.id}`;
    return out;
  }

  async delete(endpoint: string, path: string, opts: RequestOptions = {}): Promise<LwM2MResponse> {
    const r = await this.call(endpoint, `Delete ${path}`, (reg, coap) => coap.request(reg.peerKey, { code: Code.DELETE, path: this.fullPath(reg, path), confirmable: opts.confirmable }));
    return this.toResponse(r, path, "none");
  }

  async discover(endpoint: string, path: string, opts: RequestOptions = {}): Promise<LwM2MResponse> {
    const r = await this.call(endpoint, `Discover ${path}`, (reg, coap) => coap.request(reg.peerKey, {
      code: Code.GET, path: this.fullPath(reg, path), accept: ContentFormat.LINK_FORMAT, confirmable: opts.confirmable,
    }));
    return this.toResponse(r, path, "links");
  }

  /** Write-Attributes (§6.3.4): PUT with the attributes as Uri-Query; null removes one. */
  async writeAttributes(endpoint: string, path: string, attrs: Attributes, opts: RequestOptions = {}): Promise<LwM2MResponse> {
    const query: string[] = [];
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined) continue;
      if (v === null) query.push(k);
      else {
        if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`attribute ${k} must be a number`);
        query.push(`${k}=${v}`);
      }
    }
    const r = await this.call(endpoint, `Write-Attributes ${path}`, (reg, coap) => coap.request(reg.peerKey, {
      code: Code.PUT, path: this.fullPath(reg, path), query, confirmable: opts.confirmable,
    }));
    return this.toResponse(r, path, "none");
  }

  /** Observe (§6.4.1); onNotify gets each notification; cancel() sends the Cancel Observation (§6.4.2). */
  async observe(endpoint: string, path: string, onNotify: (n: Notification) => void = () => {}, opts: RequestOptions = {}): Promise<ObservationHandle> {
    const { reg } = this.target(endpoint);
    let obs!: Observation;
    const accept = opts.format === undefined ? undefined : formatNumber(opts.format);
    const notify = (r: CoapResponse) => {
      const cur = this.byName.get(endpoint);
      if (cur) this.heard(cur); // a notification wakes the queue too
      const n: Notification = { ...this.toResponse(r, path, "entries"), endpoint, path };
      this.emit("notification", n);
      onNotify(n);
    };
    await this.call(endpoint, `Observe ${path}`, async (_r, coap) => {
      obs = await coap.observe(reg.peerKey, { code: Code.GET, path: this.fullPath(reg, path), accept, confirmable: opts.confirmable }, notify,
        (e) => this.emit("observe-error", { endpoint, path, error: e }));
      return obs.response;
    });
    const set = this.observations.get(reg.id) ?? new Set<ObservationHandle>();
    const handle: ObservationHandle = {
      endpoint, path, response: this.toResponse(obs.response, path, "entries"), established: obs.established,
      cancel: async (mode = "active") => {
        set.delete(handle);
        try {
          const r = await obs.cancel(mode);
          return r ? this.toResponse(r, path, "entries") : undefined;
        } catch (e) {
          if ((e as Error).name === "CoapTimeoutError") throw new LwM2MTimeoutError(endpoint, `Cancel Observation ${path}`, e as Error);
          throw e;
        }
      },
    };
    if (obs.established) { set.add(handle); this.observations.set(reg.id, set); }
    return handle;
  }
}

function sameClient(reg: Registration, peer: PeerInfo): boolean {
  if (!reg.secure) return true; // NoSec: nothing to check
  if (!peer.secure || !peer.identity || !reg.identity) return false;
  const a = reg.identity, b = peer.identity;
  if (a.kind !== b.kind) return false;
  if (a.kind === "psk" && b.kind === "psk") return a.identity === b.identity;
  if (a.kind === "rpk" && b.kind === "rpk") return Buffer.from(a.publicKey).equals(Buffer.from(b.publicKey));
  if (a.kind === "x509" && b.kind === "x509") return Buffer.from(a.certificate).equals(Buffer.from(b.certificate));
  return false;
}

/** §6.2.1: a link with rt="oma.lwm2m" gives the alternate path of the objects. */
function rootPathOf(links: Link[]): string {
  const root = links.find((l) => l.params.rt === "oma.lwm2m");
  if (!root || root.uri === "/" ) return "";
  return root.uri.replace(/\/$/, "");
}


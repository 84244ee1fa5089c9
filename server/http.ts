// Web view of the development servers (`lwm2m-wasm server --http PORT`): a
// page (server/web/: plain ES modules, no build) and the JSON HTTP API it
// uses, which scripts can use too (server/README.md "Web view"). Bound to
// 127.0.0.1 only. The API can write to devices, so besides the loopback bind
// it refuses requests whose Host is not this loopback address (DNS
// rebinding) and state-changing requests that are not JSON (a cross-site
// form cannot send application/json without a CORS preflight, which this
// server never grants).
import http from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DevServers } from "./index";
import type { BootstrapResult } from "./bootstrap-server";
import { NotRegisteredError, LwM2MTimeoutError, type LwM2MResponse, type Notification, type ObservationHandle, type Registration, type Attributes } from "./lwm2m-server";
import { FormatError, isObjectLink, type LwM2MEntry, type LwM2MValue, type FormatName } from "./formats";
import { parseValue } from "./cli";
import type { DtlsEvent, PeerInfo, PeerIdentity } from "./transport";

const WEB_DIR = join(__dirname, "web");
const STATIC: Record<string, string> = {
  "/": "index.html", "/index.html": "index.html", "/app.js": "app.js", "/style.css": "style.css",
};
const TYPES: Record<string, string> = { html: "text/html; charset=utf-8", js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8" };

/** Limits of what the view keeps (rings). */
const MAX_NOTIFICATIONS = 500;
const MAX_DTLS_EVENTS_PER_PEER = 40;
const MAX_DTLS_PEERS = 20_000;
const MAX_BOOTSTRAP_SESSIONS = 1000;
const MAX_BODY = 64 * 1024;

export interface BootstrapSessionView {
  endpoint: string; peerKey: string; identity: string | null; startedAt: number; endedAt: number | null;
  status: "running" | "finished" | "refused" | "failed"; code: string | null; error: string | null;
  operations: { op: string; path: string; code: string }[];
}

/** JSON-safe value: bytes as {hex}, 64-bit integers beyond 2^53 as {int: "..."}, object links as {objlnk}. */
export function jsonValue(v: LwM2MValue): unknown {
  if (v instanceof Uint8Array) return { hex: Buffer.from(v).toString("hex") };
  if (typeof v === "bigint") return { int: v.toString() };
  if (isObjectLink(v)) return { objlnk: v.objlnk };
  return v;
}
const entries = (e: LwM2MEntry[] | undefined) => e?.map((x) => ({ path: x.path, value: jsonValue(x.value) }));

export function responseJson(r: LwM2MResponse) {
  return {
    code: r.code, ok: r.ok, contentFormat: r.contentFormat ?? null, content: entries(r.content) ?? null, links: r.links ?? null,
    location: r.location ?? null, observe: r.observe ?? null, decodeError: r.decodeError ?? null, payloadHex: Buffer.from(r.payload).toString("hex"),
  };
}

function identityJson(id: PeerIdentity | undefined) {
  if (!id) return null;
  if (id.kind === "psk") return { kind: "psk", identity: id.identity };
  if (id.kind === "rpk") return { kind: "rpk", publicKey: Buffer.from(id.publicKey).toString("hex") };
  return { kind: "x509", subject: id.subject };
}
const identityText = (p: PeerInfo | undefined) =>
  !p?.identity ? null : p.identity.kind === "psk" ? `PSK ${p.identity.identity}` : p.identity.kind === "rpk" ? "RPK" : `X.509 ${p.identity.subject.replace(/\n/g, ", ")}`;

class HttpError extends Error { constructor(readonly status: number, msg: string) { super(msg); } }

export interface WebView { url: string; port: number; close(): Promise<void> }

/** Serves the page and the API for `dev` on 127.0.0.1:port (0 = a free port). */
export async function startWebView(dev: DevServers, port = 0): Promise<WebView> {
  const address = "127.0.0.1";
  const lastSeen = new Map<string, number>(); // peer key -> epoch ms of its last datagram (LwM2M Server side)
  const dtls = new Map<string, DtlsEvent[]>(); // peer key -> ring
  const notifications: (ReturnType<typeof notificationJson>)[] = [];
  const sessions = new Map<string, BootstrapSessionView>(); // endpoint -> last session
  const observations = new Map<number, ObservationHandle>();
  let nextObservation = 1, nextNotification = 1;
  const streams = new Set<http.ServerResponse>();

  const push = (event: string, data: unknown) => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const s of streams) s.write(frame);
  };
  function notificationJson(n: Notification) {
    return { id: nextNotification++, at: Date.now(), endpoint: n.endpoint, path: n.path, ...responseJson(n) };
  }

  const unhook: (() => void)[] = [];
  const on = (emitter: NodeJS.EventEmitter, event: string, f: (...a: any[]) => void) => { emitter.on(event, f); unhook.push(() => emitter.off(event, f)); };
  for (const t of [dev.serverTransports.plain, dev.serverTransports.secure]) {
    if (t) on(t, "datagram", (peerKey: string) => lastSeen.set(peerKey, Date.now()));
  }
  for (const t of [dev.serverTransports.secure, dev.bootstrapSecureTransport]) {
    if (!t) continue;
    on(t, "dtls", (e: DtlsEvent) => {
      let ring = dtls.get(e.peerKey);
      if (!ring) {
        if (dtls.size >= MAX_DTLS_PEERS) dtls.delete(dtls.keys().next().value!);
        dtls.set(e.peerKey, (ring = []));
      }
      ring.push(e);
      if (ring.length > MAX_DTLS_EVENTS_PER_PEER) ring.shift();
      push("dtls", e);
    });
  }
  const s = dev.server, bs = dev.bootstrap;
  on(s, "notification", (n: Notification) => {
    const j = notificationJson(n);
    notifications.push(j);
    if (notifications.length > MAX_NOTIFICATIONS) notifications.shift();
    push("notification", j);
  });
  for (const ev of ["registered", "updated", "deregistered", "expired"]) on(s, ev, (r: Registration) => push("registration", { event: ev, endpoint: r.endpoint }));
  on(bs, "bootstrapRequest", (e: { endpoint: string; peerKey: string; peer?: PeerInfo }) => {
    sessions.delete(e.endpoint);
    if (sessions.size >= MAX_BOOTSTRAP_SESSIONS) sessions.delete(sessions.keys().next().value!);
    sessions.set(e.endpoint, {
      endpoint: e.endpoint, peerKey: e.peerKey, identity: identityText(e.peer), startedAt: Date.now(), endedAt: null,
      status: "running", code: null, error: null, operations: [],
    });
    push("bootstrap", { endpoint: e.endpoint, status: "running" });
  });
  on(bs, "bootstrapOperation", (e: { endpoint: string; op: string; path: string; code: string }) => {
    sessions.get(e.endpoint)?.operations.push({ op: e.op, path: e.path, code: e.code });
  });
  const ended = (r: BootstrapResult) => {
    const v = sessions.get(r.endpoint);
    if (!v) return;
    v.endedAt = Date.now();
    v.code = r.code ?? null;
    v.error = r.error ?? null;
    v.status = r.error ? "failed" : r.ok ? "finished" : "refused";
    push("bootstrap", { endpoint: r.endpoint, status: v.status });
  };
  on(bs, "bootstrapFinished", ended);
  on(bs, "bootstrapFailed", ended);

  const clientJson = (r: Registration) => ({
    endpoint: r.endpoint, id: r.id, location: `/rd/${r.id}`, lifetime: r.lifetime, binding: r.binding, queueMode: r.queueMode, version: r.version,
    security: r.secure ? r.identity?.kind ?? "dtls" : "nosec", identity: identityJson(r.identity),
    peer: r.peerKey, objects: r.objectLinks.map((l) => l.uri), registeredAt: r.registeredAt.getTime(), updatedAt: r.updatedAt.getTime(),
    expiresAt: r.expiresAt, lastSeen: lastSeen.get(r.peerKey) ?? r.updatedAt.getTime(),
  });
  const registration = (ep: string) => {
    const r = s.getRegistration(ep);
    if (!r) throw new HttpError(404, `endpoint '${ep}' is not registered`);
    return r;
  };
  const str = (b: Record<string, unknown>, k: string, required = true): string | undefined => {
    const v = b[k];
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string" || !v) throw new HttpError(400, `'${k}' (a string) is required`);
    return v;
  };
  const path = (b: Record<string, unknown>) => {
    const p = str(b, "path")!;
    if (!/^\/(\d+(\/\d+){0,3})?$/.test(p)) throw new HttpError(400, `'${p}' is not an LwM2M path (/3/0/1)`);
    return p;
  };
  const format = (b: Record<string, unknown>) => str(b, "format", false) as FormatName | undefined;
  const value = (v: unknown): LwM2MValue => {
    if (typeof v === "string") return parseValue(v);
    if (typeof v === "number" || typeof v === "boolean") return v;
    if (v && typeof v === "object" && typeof (v as { hex?: unknown }).hex === "string") return new Uint8Array(Buffer.from((v as { hex: string }).hex, "hex"));
    throw new HttpError(400, "'value' must be a string (12, 1.5, true, \"text\", 0xHEX, objlnk:3:0), a number, a boolean or {hex}");
  };

  /** The API: [method, pattern, handler(match, body)] */
  type Handler = (m: RegExpExecArray, body: Record<string, unknown>, url: URL) => Promise<unknown> | unknown;
  const routes: [string, RegExp, Handler][] = [
    ["GET", /^\/api\/clients$/, () => s.registrations.map(clientJson)],
    ["GET", /^\/api\/clients\/([^/]+)$/, (m) => {
      const r = registration(decodeURIComponent(m[1]));
      return { ...clientJson(r), dtls: dtls.get(r.peerKey) ?? [] };
    }],
    ["GET", /^\/api\/clients\/([^/]+)\/dtls$/, (m) => dtls.get(registration(decodeURIComponent(m[1])).peerKey) ?? []],
    ["GET", /^\/api\/bootstrap$/, () => [...sessions.values()].reverse()],
    ["GET", /^\/api\/notifications$/, (_m, _b, url) => {
      const since = Number(url.searchParams.get("since") ?? 0);
      return notifications.filter((n) => n.id > since);
    }],
    ["GET", /^\/api\/observations$/, () => [...observations].map(([id, h]) => ({ id, endpoint: h.endpoint, path: h.path }))],
    ["GET", /^\/api\/stats$/, () => ({
      registrations: s.registrations.length, bootstrapSessions: sessions.size,
      dtlsPeers: { server: dev.serverTransports.secure?.peerCount ?? null, bootstrap: dev.bootstrapSecureTransport?.peerCount ?? null },
      server: { plain: dev.serverTransports.plain.stats, secure: dev.serverTransports.secure?.stats ?? null },
      bootstrap: dev.bootstrapSecureTransport?.stats ?? null,
    })],
    ["POST", /^\/api\/clients\/([^/]+)\/read$/, async (m, b) => responseJson(await s.read(decodeURIComponent(m[1]), path(b), { format: format(b) }))],
    ["POST", /^\/api\/clients\/([^/]+)\/discover$/, async (m, b) => responseJson(await s.discover(decodeURIComponent(m[1]), path(b)))],
    ["POST", /^\/api\/clients\/([^/]+)\/write$/, async (m, b) => {
      const mode = b.mode === undefined ? "replace" : b.mode;
      if (mode !== "replace" && mode !== "update") throw new HttpError(400, "'mode' is replace or update");
      return responseJson(await s.write(decodeURIComponent(m[1]), path(b), value(b.value), { mode, format: format(b) }));
    }],
    ["POST", /^\/api\/clients\/([^/]+)\/execute$/, async (m, b) => responseJson(await s.execute(decodeURIComponent(m[1]), path(b), str(b, "args", false)))],
    ["POST", /^\/api\/clients\/([^/]+)\/attributes$/, async (m, b) => {
      const a = b.attributes;
      if (!a || typeof a !== "object") throw new HttpError(400, "'attributes' ({pmin, pmax, gt, lt, st, epmin, epmax}: number or null) is required");
      const attrs: Attributes = {};
      for (const [k, v] of Object.entries(a)) {
        if (!["pmin", "pmax", "gt", "lt", "st", "epmin", "epmax"].includes(k)) throw new HttpError(400, `unknown attribute '${k}'`);
        if (v !== null && typeof v !== "number") throw new HttpError(400, `attribute ${k}: a number or null`);
        attrs[k as keyof Attributes] = v as number | null;
      }
      return responseJson(await s.writeAttributes(decodeURIComponent(m[1]), path(b), attrs));
    }],
    ["POST", /^\/api\/clients\/([^/]+)\/observe$/, async (m, b) => {
      const h = await s.observe(decodeURIComponent(m[1]), path(b), undefined, { format: format(b) });
      if (!h.established) return { id: null, response: responseJson(h.response) };
      const id = nextObservation++;
      observations.set(id, h);
      return { id, response: responseJson(h.response) };
    }],
    ["DELETE", /^\/api\/observations\/(\d+)$/, async (m) => {
      const h = observations.get(Number(m[1]));
      if (!h) throw new HttpError(404, `no observation ${m[1]}`);
      observations.delete(Number(m[1]));
      const r = await h.cancel("active");
      return { cancelled: true, response: r ? responseJson(r) : null };
    }],
  ];

  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
      res.end(JSON.stringify(body));
    };
    const bound = (server.address() as { port: number }).port;
    if (req.headers.host !== `${address}:${bound}` && req.headers.host !== `localhost:${bound}`) {
      send(421, { error: "this server answers only requests for its own loopback address (Host)" });
      return;
    }
    const url = new URL(req.url ?? "/", `http://${address}:${bound}`);
    const file = STATIC[url.pathname];
    if (req.method === "GET" && file) {
      res.writeHead(200, { "content-type": TYPES[file.split(".").pop()!], "cache-control": "no-store" });
      res.end(readFileSync(join(WEB_DIR, file)));
      return;
    }
    if (req.method === "GET" && url.pathname === "/api/events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
      res.write(": lwm2m-wasm development servers\n\n");
      streams.add(res);
      req.on("close", () => streams.delete(res));
      return;
    }
    const route = routes.find(([method, re]) => method === req.method && re.test(url.pathname));
    if (!route) { send(404, { error: `no ${req.method} ${url.pathname}` }); return; }
    if (req.method === "POST" && !/^application\/json\b/.test(req.headers["content-type"] ?? "")) { // DELETE needs a CORS preflight anyway
      send(415, { error: "send the parameters as application/json" });
      return;
    }
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => { size += c.length; if (size <= MAX_BODY) chunks.push(c); });
    req.on("end", () => {
      void (async () => {
        try {
          if (size > MAX_BODY) throw new HttpError(413, "request body too large");
          let body: Record<string, unknown> = {};
          if (size) {
            try { body = JSON.parse(Buffer.concat(chunks).toString("utf8")); } catch { throw new HttpError(400, "the body is not JSON"); }
            if (!body || typeof body !== "object" || Array.isArray(body)) throw new HttpError(400, "the body must be a JSON object");
          }
          send(200, await route[2](route[1].exec(url.pathname)!, body, url));
        } catch (e) {
          const err = e as Error;
          const status = e instanceof HttpError ? e.status : e instanceof NotRegisteredError ? 404 : e instanceof LwM2MTimeoutError ? 504 : e instanceof FormatError ? 400 : 500;
          send(status, { error: err.message });
        }
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => { server.off("error", reject); resolve(); });
  });
  const bound = (server.address() as { port: number }).port;
  return {
    url: `http://${address}:${bound}/`, port: bound,
    async close() {
      for (const u of unhook) u();
      for (const st of streams) st.end();
      streams.clear();
      for (const h of observations.values()) void h.cancel("passive").catch(() => {});
      observations.clear();
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

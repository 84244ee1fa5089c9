// The web view of the development servers: plain ES module, no build. Everything
// it shows comes from the JSON API of server/http.ts (server/README.md "Web view").
const $ = (sel) => document.querySelector(sel);
let selected = null;
let clientsByName = new Map();

/** Runs fn at most every 500 ms however many events ask for it (a fleet registers thousands at once). */
function throttled(fn) {
  let timer = null;
  return () => { if (!timer) timer = setTimeout(() => { timer = null; fn(); }, 500); };
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ?? res.statusText);
  return data;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.append(td);
}

const ago = (t) => `${Math.max(0, Math.round((Date.now() - t) / 1000))} s ago`;
const identity = (id) => (!id ? "—" : id.kind === "psk" ? id.identity : id.kind === "rpk" ? `${id.publicKey.slice(-16)}…` : id.subject);
const value = (v) => (v && typeof v === "object" ? (v.hex !== undefined ? `0x${v.hex}` : v.int ?? `objlnk:${v.objlnk}`) : JSON.stringify(v));

function describe(r) {
  const lines = [r.code + (r.location ? ` location ${r.location}` : "")];
  for (const e of r.content ?? []) lines.push(`${e.path} = ${value(e.value)}`);
  for (const l of r.links ?? []) lines.push(`<${l.uri}>${Object.entries(l.params).map(([k, v]) => `;${k}${v === true ? "" : `=${v}`}`).join("")}`);
  if (r.decodeError) lines.push(`(undecodable: ${r.decodeError})`);
  return lines.join("\n");
}

async function refreshClients() {
  const clients = await api("GET", "/api/clients");
  clientsByName = new Map(clients.map((c) => [c.endpoint, c]));
  $("#client-count").textContent = `(${clients.length})`;
  const body = $("#clients tbody");
  body.replaceChildren();
  for (const c of clients) {
    const tr = document.createElement("tr");
    tr.dataset.endpoint = c.endpoint;
    if (c.endpoint === selected) tr.className = "selected";
    cell(tr, c.endpoint);
    cell(tr, c.security);
    cell(tr, identity(c.identity));
    cell(tr, `${c.lifetime} s`);
    cell(tr, c.binding);
    cell(tr, c.objects.join(" "), "objects");
    cell(tr, ago(c.lastSeen));
    tr.addEventListener("click", () => select(c.endpoint));
    body.append(tr);
  }
  if (selected && !clients.some((c) => c.endpoint === selected)) $("#client-name").textContent = `${selected} (not registered)`;
}

async function refreshBootstrap() {
  const sessions = await api("GET", "/api/bootstrap");
  const body = $("#bootstrap tbody");
  body.replaceChildren();
  for (const s of sessions.slice(0, 50)) {
    const tr = document.createElement("tr");
    cell(tr, s.endpoint);
    cell(tr, s.identity ?? "NoSec");
    cell(tr, s.status + (s.code ? ` (${s.code})` : "") + (s.error ? `: ${s.error}` : ""), s.status);
    cell(tr, s.operations.map((o) => `${o.op} ${o.path} ${o.code}`).join(", "), "objects");
    cell(tr, ago(s.startedAt));
    body.append(tr);
  }
}

async function refreshDtls() {
  if (!selected) return;
  try {
    const events = await api("GET", `/api/clients/${encodeURIComponent(selected)}/dtls`);
    $("#dtls").replaceChildren(...events.map((e) => {
      const li = document.createElement("li");
      li.textContent = `${new Date(e.at).toLocaleTimeString()} ${e.kind}: ${e.detail}`;
      return li;
    }));
  } catch { /* not registered (any more) */ }
}

async function refreshObservations() {
  const obs = (await api("GET", "/api/observations")).filter((o) => o.endpoint === selected);
  $("#observations").replaceChildren(...obs.map((o) => {
    const li = document.createElement("li");
    li.textContent = `#${o.id} ${o.path} `;
    const b = document.createElement("button");
    b.textContent = "Cancel";
    b.addEventListener("click", async () => {
      try { $("#result").textContent = `Cancel #${o.id}: ${(await api("DELETE", `/api/observations/${o.id}`)).response?.code ?? "done"}`; }
      catch (e) { $("#result").textContent = `error: ${e.message}`; }
      refreshObservations();
    });
    li.append(b);
    return li;
  }));
}

function select(endpoint) {
  selected = endpoint;
  $("#client").hidden = false;
  $("#client-name").textContent = endpoint;
  for (const tr of document.querySelectorAll("#clients tbody tr")) tr.classList.toggle("selected", tr.dataset.endpoint === endpoint);
  $("#result").textContent = "";
  refreshDtls();
  refreshObservations();
}

function attributes(text) {
  const out = {};
  for (const kv of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^(pmin|pmax|gt|lt|st|epmin|epmax)=(.*)$/.exec(kv);
    if (!m) throw new Error(`'${kv}' is not NAME=VALUE (pmin pmax gt lt st epmin epmax)`);
    out[m[1]] = m[2] === "" ? null : Number(m[2]);
  }
  return out;
}

async function operation(op) {
  const path = $("#path").value.trim();
  const base = `/api/clients/${encodeURIComponent(selected)}`;
  $("#result").textContent = `${op} ${path}…`;
  try {
    let text;
    if (op === "write") text = describe(await api("POST", `${base}/write`, { path, value: $("#value").value }));
    else if (op === "execute") text = describe(await api("POST", `${base}/execute`, { path, args: $("#args").value || undefined }));
    else if (op === "attributes") text = describe(await api("POST", `${base}/attributes`, { path, attributes: attributes($("#attrs").value) }));
    else if (op === "observe") {
      const r = await api("POST", `${base}/observe`, { path });
      text = `${r.id === null ? "not observed: " : `observation #${r.id}: `}${describe(r.response)}`;
      refreshObservations();
    } else text = describe(await api("POST", `${base}/${op}`, { path }));
    $("#result").textContent = `${op} ${path}: ${text}`;
  } catch (e) {
    $("#result").textContent = `${op} ${path}: error: ${e.message}`;
  }
}

function addNotification(n) {
  const li = document.createElement("li");
  li.textContent = `${new Date(n.at).toLocaleTimeString()} ${n.endpoint} ${n.path} #${n.observe ?? "-"} ${n.code} ` +
    (n.content ?? []).map((e) => `${e.path}=${value(e.value)}`).join(" ");
  const list = $("#notifications");
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
}

for (const b of document.querySelectorAll("#ops button")) b.addEventListener("click", () => operation(b.dataset.op));

const events = new EventSource("/api/events");
events.addEventListener("open", () => { $("#status").textContent = "live"; });
events.addEventListener("error", () => { $("#status").textContent = "reconnecting…"; });
const clientsLater = throttled(refreshClients), bootstrapLater = throttled(refreshBootstrap), dtlsLater = throttled(refreshDtls);
events.addEventListener("registration", clientsLater);
events.addEventListener("bootstrap", bootstrapLater);
events.addEventListener("notification", (e) => addNotification(JSON.parse(e.data)));
events.addEventListener("dtls", (e) => {
  if (selected && JSON.parse(e.data).peerKey === clientsByName.get(selected)?.peer) dtlsLater();
});

for (const n of await api("GET", "/api/notifications")) addNotification(n);
await Promise.all([refreshClients(), refreshBootstrap()]);
setInterval(() => { refreshClients(); }, 5000);

// The web view of the development servers (server/http.ts, server/web/)
// against a running simulated device (build/firmware.wasm) that bootstrapped
// and registered over DTLS-PSK: the JSON API with plain fetch (list, Read,
// Discover, Write, Write-Attributes, Execute, Observe / Cancel, the
// notification log, the DTLS events, the refusals), and the page itself in
// headless Chromium (playwright-core): the client appears, a Read shows the
// manufacturer, an Observe shows notifications arriving. The screenshot is
// kept in build/test-artifacts/web-view.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServers, devPsk, DEV_CONFIG_FILE, type DevServers } from "../server/index";
import { startWebView, type WebView } from "../server/http";
import { Device, type ClientEvent } from "../host-shim/node/device";
import { requirePeer } from "./helpers/peers";

const ROOT = join(__dirname, "..");
const ENDPOINT = "fleet-web-1";
const MANUFACTURER = "lwm2m-wasm web view test";

interface Setup { dir: string; dev: DevServers; web: WebView; device: Device }

async function setup(): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), "web-view-"));
  const dev = await startDevServers({ config: DEV_CONFIG_FILE, bootstrapPort: 0, serverPort: 0, log: false, secure: { pkiDir: join(dir, "pki") } });
  const web = await startWebView(dev, 0);
  const device = new Device({ logLimit: 100 });
  device.start();
  const registered = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not registered: ${device.logs.map((l) => l.text).join(" | ")}`)), 10_000);
    device.on("event", (e: ClientEvent) => { if (e.name === "registered") { clearTimeout(t); resolve(); } });
  });
  device.provision({
    endpoint: ENDPOINT, device: { manufacturer: MANUFACTURER, modelNumber: "web-1" },
    bootstrap: { uri: dev.secureBootstrapUri!, securityMode: "psk", pskIdentity: `${ENDPOINT}-bs`, pskKey: devPsk(`${ENDPOINT}-bs`), clientHoldOffTime: 0 },
  });
  await registered;
  device.setResource(3, 0, 9, 100); // battery level: the resource exists once the device has a value
  return { dir, dev, web, device };
}

async function teardown(s: Setup) {
  await s.device.shutdown(2000);
  await s.web.close();
  await s.dev.close();
  rmSync(s.dir, { recursive: true, force: true });
}

async function api(web: WebView, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, web.url), {
    method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/** A raw request with any Host header (fetch does not let one set Host). */
function rawRequest(web: WebView, method: string, path: string, headers: Record<string, string>, body = ""): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: web.port, method, path, headers }, (res) => { res.resume(); resolve(res.statusCode!); });
    req.on("error", reject);
    req.end(body);
  });
}

const until = async (what: string, f: () => Promise<boolean> | boolean, ms = 8000) => {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

test("web view API: clients, bootstrap sessions, Read/Discover/Write/Write-Attributes/Execute, Observe/Cancel, notifications, DTLS events", async () => {
  const s = await setup();
  try {
    const { web, device } = s;
    const clients = await api(web, "GET", "/api/clients");
    assert.equal(clients.status, 200);
    const c = clients.json.find((x: any) => x.endpoint === ENDPOINT);
    assert.ok(c, JSON.stringify(clients.json));
    assert.equal(c.security, "psk");
    assert.deepEqual(c.identity, { kind: "psk", identity: ENDPOINT });
    assert.equal(c.lifetime, 300);
    assert.equal(c.binding, "U");
    assert.ok(c.objects.includes("/3/0"), c.objects.join(" "));
    assert.ok(Date.now() - c.lastSeen < 30_000);

    const sessions = (await api(web, "GET", "/api/bootstrap")).json;
    const bs = sessions.find((x: any) => x.endpoint === ENDPOINT);
    assert.equal(bs.status, "finished");
    assert.equal(bs.identity, `PSK ${ENDPOINT}-bs`);
    assert.ok(bs.operations.some((o: any) => o.op === "Write" && o.path.startsWith("/0/")));

    const base = `/api/clients/${ENDPOINT}`;
    const read = await api(web, "POST", `${base}/read`, { path: "/3/0" });
    assert.equal(read.status, 200);
    assert.equal(read.json.code, "2.05");
    assert.deepEqual(read.json.content.find((e: any) => e.path === "/3/0/0"), { path: "/3/0/0", value: MANUFACTURER });

    const disc = await api(web, "POST", `${base}/discover`, { path: "/3/0" });
    assert.equal(disc.json.code, "2.05");
    assert.ok(disc.json.links.some((l: any) => l.uri === "/3/0/0"), JSON.stringify(disc.json.links));

    const server = c.objects.find((o: string) => /^\/1\/\d+$/.test(o)); // the Server instance the bootstrap wrote
    const write = await api(web, "POST", `${base}/write`, { path: `${server}/1`, value: "120" });
    assert.equal(write.json.code, "2.04", JSON.stringify(write.json));
    assert.equal((await api(web, "POST", `${base}/read`, { path: `${server}/1` })).json.content[0].value, 120);
    await until("the Update with the new lifetime", async () => (await api(web, "GET", base)).json.lifetime === 120);

    const attrs = await api(web, "POST", `${base}/attributes`, { path: "/3/0/9", attributes: { pmin: 0, pmax: 60 } });
    assert.equal(attrs.json.code, "2.04", JSON.stringify(attrs.json));
    const exec = await api(web, "POST", `${base}/execute`, { path: `${server}/8` }); // Registration Update Trigger
    assert.equal(exec.json.code, "2.04", JSON.stringify(exec.json));

    const obs = await api(web, "POST", `${base}/observe`, { path: "/3/0/9" });
    assert.equal(obs.json.response.code, "2.05");
    assert.ok(Number.isInteger(obs.json.id));
    const before = (await api(web, "GET", "/api/notifications")).json.length;
    device.setResource(3, 0, 9, 42);
    await until("a notification in the log", async () => {
      const n = (await api(web, "GET", "/api/notifications")).json;
      return n.length > before && n.some((x: any) => x.path === "/3/0/9" && x.content?.[0]?.value === 42);
    });
    assert.deepEqual((await api(web, "GET", "/api/observations")).json, [{ id: obs.json.id, endpoint: ENDPOINT, path: "/3/0/9" }]);
    const cancel = await api(web, "DELETE", `/api/observations/${obs.json.id}`);
    assert.equal(cancel.status, 200);
    assert.deepEqual((await api(web, "GET", "/api/observations")).json, []);

    const dtls = (await api(web, "GET", `${base}/dtls`)).json;
    assert.ok(dtls.some((e: any) => e.kind === "established" && e.detail.includes(`PSK identity '${ENDPOINT}'`)), JSON.stringify(dtls));

    // errors
    assert.equal((await api(web, "POST", "/api/clients/nobody/read", { path: "/3/0" })).status, 404);
    assert.equal((await api(web, "POST", `${base}/read`, { path: "3/0" })).status, 400);
    assert.equal((await api(web, "POST", `${base}/attributes`, { path: "/3/0/9", attributes: { color: 1 } })).status, 400);
    assert.equal((await api(web, "DELETE", "/api/observations/999")).status, 404);
  } finally {
    await teardown(s);
  }
});

test("web view refuses other Host names (DNS rebinding) and non-JSON requests that change state (cross-site forms)", async () => {
  const s = await setup();
  try {
    const { web } = s;
    const path = `/api/clients/${ENDPOINT}/read`;
    const body = JSON.stringify({ path: "/3/0" });
    assert.equal(await rawRequest(web, "POST", path, { host: `127.0.0.1:${web.port}`, "content-type": "application/json" }, body), 200);
    assert.equal(await rawRequest(web, "POST", path, { host: `evil.example:${web.port}`, "content-type": "application/json" }, body), 421);
    assert.equal(await rawRequest(web, "GET", "/api/clients", { host: "evil.example" }), 421);
    assert.equal(await rawRequest(web, "POST", path, { host: `127.0.0.1:${web.port}`, "content-type": "application/x-www-form-urlencoded" }, "path=/3/0"), 415);
    assert.equal(await rawRequest(web, "POST", path, { host: `127.0.0.1:${web.port}`, "content-type": "text/plain" }, body), 415);
  } finally {
    await teardown(s);
  }
});

test("web view in headless Chromium: the client appears, Read shows the manufacturer, Observe shows notifications arriving", async (t) => {
  if (!requirePeer(t, "chromium")) return;
  const { chromium } = await import("playwright-core");
  const s = await setup();
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(s.web.url);
    const row = page.locator(`#clients tbody tr[data-endpoint="${ENDPOINT}"]`);
    await row.waitFor({ timeout: 10_000 });
    assert.match(await row.innerText(), /psk\s+fleet-web-1\s+300 s\s+U/);
    await page.locator("#status").filter({ hasText: "live" }).waitFor({ timeout: 5000 });
    await row.click();
    await page.fill("#path", "/3/0");
    await page.click('button[data-op="read"]');
    await page.locator("#result").filter({ hasText: MANUFACTURER }).waitFor({ timeout: 10_000 });
    assert.match(await page.innerText("#result"), /read \/3\/0: 2\.05\n\/3\/0\/0 = "lwm2m-wasm web view test"/);

    await page.fill("#path", "/3/0/9");
    await page.click('button[data-op="observe"]');
    await page.locator("#result").filter({ hasText: "observation #" }).waitFor({ timeout: 10_000 })
      .catch(async (e) => { throw new Error(`${e.message}; the result says: ${await page.innerText("#result")}`); });
    await page.locator("#observations li").first().waitFor();
    for (const level of [71, 72]) {
      s.device.setResource(3, 0, 9, level);
      await page.locator("#notifications li").filter({ hasText: `/3/0/9=${level}` }).waitFor({ timeout: 10_000 });
    }
    await page.locator("#bootstrap tbody tr").filter({ hasText: ENDPOINT }).filter({ hasText: "finished" }).waitFor();
    await page.locator("#dtls li").filter({ hasText: "established" }).first().waitFor({ timeout: 5000 });
    mkdirSync(join(ROOT, "build", "test-artifacts"), { recursive: true });
    await page.screenshot({ path: join(ROOT, "build", "test-artifacts", "web-view.png"), fullPage: true });
    await page.locator("#observations button").first().click();
    await page.locator("#result").filter({ hasText: "Cancel #" }).waitFor({ timeout: 10_000 });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await teardown(s);
  }
});

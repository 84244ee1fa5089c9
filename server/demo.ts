// `npm start`: the main job on local defaults. Starts the development servers
// on loopback and one simulated device that bootstraps, registers, answers a
// Read of /3/0 and sends notifications for an observed resource, printing
// each step as it happens. Exits 0 when the whole flow went through.
import { startDevServers, pskAccountsOf, DEV_CONFIG_FILE, type DevServers } from "./index";
import { Device, type ClientEvent, type FactoryConfig } from "../host-shim/node/device";
import { BootStatus } from "../host-shim/node/status";
import { PROFILE, PROFILES } from "../host-shim/node/profile";

const STEP_TIMEOUT_MS = 10_000;

function waitFor<T>(emitter: { once(ev: string, f: (x: T) => void): unknown }, ev: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for '${ev}'`)), STEP_TIMEOUT_MS);
    emitter.once(ev, (x: T) => { clearTimeout(t); resolve(x); });
  });
}

const say = (who: string, text: string) => console.log(`${who.padEnd(10)} ${text}`);

export interface DemoSecurity {
  /** The Bootstrap-Server's configuration file. */
  bootstrapConfig: string;
  /** The device's factory Bootstrap-Server account, given the running servers. */
  factory(servers: DevServers): NonNullable<FactoryConfig["bootstrap"]>;
  label: string;
}

export async function runDemo(security: DemoSecurity): Promise<number> {
  const endpoint = "lwm2m-wasm-demo";
  say("demo", `security: ${security.label}`);
  const servers: DevServers = await startDevServers({
    bootstrapPort: 0, serverPort: 0, config: security.bootstrapConfig,
    log: (line) => say("servers", line),
  });
  const factory = security.factory(servers);
  const device = new Device();
  device.on("log", (e) => { if (e.level <= 1) say("device", `[${e.levelName}] ${e.text}`); });
  device.on("event", (e: ClientEvent) => say("device", `event ${e.name}${e.text ? ` ${e.text}` : ""}${e.ssid ? ` (server ${e.ssid})` : ""}`));
  let failed: Error | null = null;
  device.on("fatal", (e) => { failed = e as Error; });
  try {
    const status = device.start();
    const all = BootStatus.RngHealthy | BootStatus.SeHealthy | BootStatus.FlashMounted;
    if ((status & all) !== all) throw new Error(`boot failed (status ${status})`);
    say("device", "booted: DRBG healthy, SE self-test passed, sealed store mounted");

    const registered = waitFor(servers.server, "registered");
    const bootstrapped = waitFor(device, "bootstrapped");
    device.provision({ endpoint, bootstrap: factory });
    say("device", `factory account: Bootstrap-Server ${factory.uri}`);
    await bootstrapped;
    await registered;

    const read = await servers.server.read(endpoint, "/3/0");
    say("server", `Read /3/0 -> ${read.code}`);
    for (const e of read.content ?? []) say("server", `  ${e.path} = ${String(e.value)}`);
    if (read.code !== "2.05") throw new Error(`Read /3/0 answered ${read.code}`);

    device.setResource(3, 0, 9, 100);
    await servers.server.writeAttributes(endpoint, "/3/0/9", { pmin: 0, st: 1 });
    const notified: unknown[] = [];
    const observation = await servers.server.observe(endpoint, "/3/0/9", (n) => {
      const v = n.content?.[0]?.value;
      notified.push(v);
      say("server", `notification /3/0/9 (battery level) = ${String(v)}`);
    });
    say("server", `Observe /3/0/9 -> ${observation.response.code}`);
    if (!observation.established) throw new Error(`Observe /3/0/9 was not established (${observation.response.code})`);
    for (const level of [97, 93, 90]) {
      const sent = waitFor(device, "notification");
      device.setResource(3, 0, 9, level);
      await sent;
    }
    await new Promise((r) => setTimeout(r, 100));
    await observation.cancel();
    if (notified.length < 3) throw new Error(`expected 3 notifications, got ${notified.length}`);

    const gone = waitFor(servers.server, "deregistered");
    await device.shutdown(3000);
    await gone;
    say("demo", "done: bootstrapped, registered, read /3/0, observed /3/0/9, de-registered");
    if (servers.est && !PROFILES.profiles[PROFILE].flags.includes("PROFILE_NO_EST")) await mode4Device(servers);
    else if (servers.est) say("demo", `build profile ${PROFILE} has no EST (PROFILE_NO_EST): the Security Mode 4 device is left out`);
    return failed ? 1 : 0;
  } catch (e) {
    say("demo", `FAILED: ${(e as Error).message}`);
    return 1;
  } finally {
    device.stop();
    await servers.close();
  }
}

/** The mode-4 endpoint of server/dev-config.json: bootstrap over DTLS-PSK to a Security Mode 4 account
 *  whose resources 3/5 hold a factory (IDevID) certificate and key from the development CA. */
export const MODE4_DEMO_ENDPOINT = "lwm2m-wasm-est-idevid";

/**
 * Issue 8: a Security Mode 4 device. Bootstrap over DTLS-PSK gives it a mode-4
 * account (resource 4 = the LwM2M Server's certificate, resources 3/5 = its
 * IDevID); the key pair is generated in the SE, the certificate enrolled by
 * EST-coaps at the LwM2M Server's RA, then DTLS with that certificate,
 * Register, Read, de-register.
 */
async function mode4Device(servers: DevServers): Promise<void> {
  const endpoint = MODE4_DEMO_ENDPOINT;
  const bs = pskAccountsOf(DEV_CONFIG_FILE, endpoint).bootstrap;
  if (!bs || !servers.secureBootstrapUri) throw new Error(`${DEV_CONFIG_FILE}: ${endpoint} has no Bootstrap-Server PSK`);
  say("demo", "Security Mode 4: a second device enrols its certificate by EST-coaps, then registers with it");
  const device = new Device();
  device.on("log", (e) => { if (e.level <= 1 || /^EST: /.test(e.text)) say("device2", `[${e.levelName}] ${e.text}`); });
  device.on("event", (e: ClientEvent) => say("device2", `event ${e.name}${e.text ? ` ${e.text}` : ""}${e.ssid ? ` (server ${e.ssid})` : ""}`));
  try {
    device.start();
    const enrolled = waitFor(device, "enrolled");
    const registered = waitFor(servers.server, "registered");
    device.provision({ endpoint, bootstrap: { uri: servers.secureBootstrapUri, securityMode: "psk", pskIdentity: bs.identity, pskKey: bs.key } });
    say("device2", `factory account: Bootstrap-Server ${servers.secureBootstrapUri} (DTLS-PSK)`);
    await enrolled;
    await registered;
    const reg = servers.server.getRegistration(endpoint);
    if (reg?.identity?.kind !== "x509") throw new Error(`${endpoint} registered without a certificate (${reg?.identity?.kind ?? "none"})`);
    say("server", `${endpoint} registered with the EST-enrolled certificate (${reg.identity.subject})`);
    const read = await servers.server.read(endpoint, "/3/0");
    say("server", `Read /3/0 of ${endpoint} -> ${read.code}`);
    if (read.code !== "2.05") throw new Error(`Read /3/0 answered ${read.code}`);
    const gone = waitFor(servers.server, "deregistered");
    await device.shutdown(3000);
    await gone;
    say("demo", "done: Security Mode 4 device bootstrapped, key generated in the SE, certificate enrolled (EST-coaps), registered with it, read, de-registered");
  } finally {
    device.stop();
  }
}

const DEV_CONFIG = DEV_CONFIG_FILE;

/** The factory account of 'lwm2m-wasm-demo' in server/dev-config.json: DTLS-PSK to the Bootstrap-Server. */
export const PSK_DEMO: DemoSecurity = {
  label: "DTLS 1.2 with PSK (TLS_PSK_WITH_AES_128_CCM_8) for bootstrap and for the LwM2M Server",
  bootstrapConfig: DEV_CONFIG,
  factory: (servers) => {
    if (!servers.secureBootstrapUri) throw new Error("the development servers have no DTLS listener");
    const account = pskAccountsOf(DEV_CONFIG, "lwm2m-wasm-demo").bootstrap;
    if (!account) throw new Error(`${DEV_CONFIG}: lwm2m-wasm-demo has no Bootstrap-Server PSK`);
    return { uri: servers.secureBootstrapUri, securityMode: "psk", pskIdentity: account.identity, pskKey: account.key };
  },
};

export const DEFAULT_DEMO = PSK_DEMO;

// `npx lwm2m-wasm <command>`: the simulator's command line.
//   boot [--state DIR]     boot the firmware: DRBG health, SE self-test, flash mount
//   device ...             run a simulated LwM2M device against a server (see USAGE)
import { existsSync, readFileSync } from "node:fs";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { Device, FIRMWARE_PATH, type FactoryConfig, type AccountConfig, type ClientEvent, ProvisionError, SLEEP_MODES, type SleepModeName } from "./device";
import { join } from "node:path";
import { BootStatus, StoreStatus, DeviceStateError, storeStatusMessage } from "./status";
import { runFleet } from "./fleet";

/** Exit code of a refused state folder (flash.img, se-keystore.json): each cause has its own message. */
const EXIT_STATE = 3;

/** The Device on a state folder, or null (message printed) when a state file is refused. */
function openDevice(stateDir: string, connectionId?: number, sleepMode?: SleepModeName): Device | null {
  try {
    return new Device({ stateDir, connectionId, sleepMode });
  } catch (e) {
    if (!(e instanceof DeviceStateError)) throw e;
    console.error(`lwm2m-wasm: ${e.message}`);
    return null;
  }
}

/** What a store the firmware found missing looks like (sectors 1.., the superblock is rewritten at mount). */
function missingKind(stateDir: string): string {
  let img: Buffer;
  try { img = readFileSync(join(stateDir, "flash.img")); } catch { return "unreadable"; }
  const rest = img.subarray(4096);
  if (rest.every((b) => b === 0xff)) return "erased (all 0xFF)";
  if (rest.every((b) => b === 0)) return "zeroed (all 0x00)";
  return "overwritten (random or foreign content)";
}

/** Why the state folder was refused at boot, or null when it was accepted. */
function stateRefusal(dev: Device, stateDir: string): string | null {
  const st = dev.storeStatus;
  if ((dev.exports.boot_status() & BootStatus.FlashMounted) === 0) {
    let why = `${stateDir}/flash.img: ${storeStatusMessage(st)}`;
    if (st === StoreStatus.Missing) why += `; the image is ${missingKind(stateDir)}`;
    return `${why}
  'lwm2m-wasm device --state ${stateDir} --factory-reset' erases the device (keys and configuration)`;
  }
  if (dev.configStatus < 0) {
    return `${stateDir}: the stored configuration is corrupt (a record failed authentication, status ${dev.configStatus}): not provisioned
` +
      `  --reprovision replaces it, --factory-reset erases the device`;
  }
  return null;
}

const COLORS: Record<string, string> = { error: "\x1b[31m", warn: "\x1b[33m", info: "\x1b[36m", debug: "\x1b[90m", event: "\x1b[32m" };
const useColor = process.stdout.isTTY;

function printLog(levelName: string, text: string) {
  const tag = `[${levelName}]`.padEnd(8);
  console.log(useColor ? `${COLORS[levelName] ?? ""}${tag}\x1b[0m ${text}` : `${tag} ${text}`);
}

function option(args: string[], name: string, fallback?: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}
const flag = (args: string[], name: string) => args.includes(name);

function firmwarePresent(): boolean {
  if (existsSync(FIRMWARE_PATH)) return true;
  console.error(`no firmware at ${FIRMWARE_PATH}: run 'npm run build' first`);
  return false;
}

function boot(args: string[]): number {
  if (!firmwarePresent()) return 2;
  const stateDir = option(args, "--state", "state");
  console.log(`lwm2m-wasm simulator: booting ${FIRMWARE_PATH} (state in ${stateDir}/)`);
  const device = openDevice(stateDir!);
  if (!device) return EXIT_STATE;
  device.on("log", (e) => printLog(e.levelName, e.text));
  let status = device.start();
  if (flag(args, "--factory-reset")) status = device.factoryReset();
  device.stop();
  const ok = (bit: number) => ((status & bit) !== 0 ? "ok" : "FAILED");
  console.log(`boot status: DRBG ${ok(BootStatus.RngHealthy)}, SE ${ok(BootStatus.SeHealthy)}, flash ${ok(BootStatus.FlashMounted)}`);
  const refused = stateRefusal(device, stateDir!);
  if (refused) { console.error(`lwm2m-wasm: ${refused}`); return EXIT_STATE; }
  const all = BootStatus.RngHealthy | BootStatus.SeHealthy | BootStatus.FlashMounted;
  return (status & all) === all ? 0 : 1;
}

// ---- device ---------------------------------------------------------------------

/** A P-256 private key file (PEM or DER, SEC1 or PKCS#8) -> raw 32-byte scalar + SPKI DER of its public key. */
function readPrivateKey(file: string): { secret: Uint8Array; spki: Uint8Array } {
  const data = readFileSync(file);
  const pem = data.includes("-----BEGIN");
  const key = pem ? createPrivateKey(data) : createPrivateKey({ key: data, format: "der", type: data[4] === 0x02 ? "pkcs8" : "sec1" });
  const jwk = key.export({ format: "jwk" });
  if (jwk.crv !== "P-256" || !jwk.d) throw new Error(`${file}: not a P-256 private key`);
  const secret = new Uint8Array(Buffer.from(jwk.d, "base64url"));
  const spki = new Uint8Array(createPublicKey(key).export({ format: "der", type: "spki" }));
  return { secret, spki };
}
/** A public key (PEM or DER SPKI) -> SPKI DER. */
function readPublicKey(file: string): Uint8Array {
  const data = readFileSync(file);
  const key = data.includes("-----BEGIN") ? createPublicKey(data) : createPublicKey({ key: data, format: "der", type: "spki" });
  return new Uint8Array(key.export({ format: "der", type: "spki" }));
}
/** A certificate (PEM or DER) -> DER. */
function readCertificate(file: string): Uint8Array {
  return new Uint8Array(new X509Certificate(readFileSync(file)).raw);
}

/** Credentials from the probe-style flags, for an account with this URI. */
function credentials(args: string[], uri: string): Partial<AccountConfig> {
  if (!uri.startsWith("coaps:")) return { securityMode: "nosec" };
  const pskId = option(args, "--psk-identity");
  const pskKey = option(args, "--psk-key");
  if (pskId !== undefined || pskKey !== undefined) {
    if (!pskId || !pskKey || !/^([0-9a-fA-F]{2})+$/.test(pskKey)) throw new Error("--psk-identity ID --psk-key HEX go together");
    return { securityMode: "psk", pskIdentity: pskId, pskKey };
  }
  const rpk = option(args, "--rpk-key");
  if (rpk) {
    const serverRpk = option(args, "--server-rpk");
    if (!serverRpk) throw new Error("--rpk-key needs --server-rpk FILE");
    const { secret, spki } = readPrivateKey(rpk);
    return { securityMode: "rpk", publicKey: spki, secretKey: secret, serverPublicKey: readPublicKey(serverRpk) };
  }
  const serverCert = option(args, "--server-cert");
  const idevid = option(args, "--idevid-cert");
  if (serverCert || idevid || option(args, "--est") || option(args, "--est-ca")) {
    // Security Mode 4 (issue 8): resource 4 = the LwM2M Server's certificate; the IDevID
    // (resources 3 and 5 of the account) authenticates the device to the EST server
    const idevidKey = option(args, "--idevid-key");
    if (!serverCert || !idevid || !idevidKey) throw new Error("Security Mode 4 needs --server-cert FILE --idevid-cert FILE --idevid-key FILE (and optionally --est URI --est-ca FILE)");
    return { securityMode: "est", publicKey: readCertificate(idevid), secretKey: readPrivateKey(idevidKey).secret, serverPublicKey: readCertificate(serverCert) };
  }
  const cert = option(args, "--cert");
  if (cert) {
    const keyFile = option(args, "--key");
    const ca = option(args, "--ca");
    if (!keyFile || !ca) throw new Error("--cert needs --key FILE and --ca FILE");
    const usage = option(args, "--cert-usage");
    if (usage !== undefined && !/^[0-3]$/.test(usage)) throw new Error(`--cert-usage ${usage}: 0 (CA constraint), 1 (service certificate constraint), 2 (trust anchor assertion) or 3 (domain-issued certificate)`);
    return {
      securityMode: "x509", publicKey: readCertificate(cert), secretKey: readPrivateKey(keyFile).secret, serverPublicKey: readCertificate(ca),
      certificateUsage: usage === undefined ? undefined : Number(usage),
    };
  }
  throw new Error(`${uri} is a coaps:// URI: give --psk-identity/--psk-key, --rpk-key/--server-rpk or --cert/--key/--ca`);
}

function factoryConfig(args: string[]): FactoryConfig {
  const endpoint = option(args, "--endpoint");
  const bs = option(args, "--bootstrap");
  const server = option(args, "--server");
  if (!endpoint) throw new Error("--endpoint EP is required");
  if (!!bs === !!server) throw new Error("give exactly one of --bootstrap URI and --server URI");
  const uri = (bs ?? server)!;
  if (!/^coaps?:\/\/[^/]+/.test(uri)) throw new Error(`not a coap:// or coaps:// URI: ${uri}`);
  const creds = credentials(args, uri);
  if (bs) {
    return {
      endpoint,
      bootstrap: { uri, ...creds, lowEntropy: flag(args, "--low-entropy"), clientHoldOffTime: Number(option(args, "--hold-off", "0")) },
    };
  }
  const est = option(args, "--est"), estCa = option(args, "--est-ca"), renew = option(args, "--renew-at");
  if (est !== undefined && !/^coaps:\/\/[^/]+/.test(est)) throw new Error(`--est ${est}: a coaps://host:port[/path] URI`);
  if (renew !== undefined && !/^([1-9][0-9]?|100)$/.test(renew)) throw new Error(`--renew-at ${renew}: a percentage of the validity, 1..100`);
  return {
    endpoint,
    servers: [{
      uri, ...creds, shortServerId: Number(option(args, "--ssid", "1")), lifetime: Number(option(args, "--lifetime", "300")),
    }],
    ...(creds.securityMode === "est" ? { est: { uri: est, trustAnchor: estCa ? readCertificate(estCa) : undefined, renewPercent: renew ? Number(renew) : undefined, serverKeygen: args.includes("--est-skg"), discover: args.includes("--est-discover") } } : {}),
  };
}

function describe(e: ClientEvent): string {
  switch (e.name) {
    case "registered": return `registered (ssid ${e.ssid}) at ${e.text}, lifetime ${e.arg} s`;
    case "updated": return `registration updated (ssid ${e.ssid})`;
    case "deregistered": return `de-registered (ssid ${e.ssid})`;
    case "notification": return `notification #${e.arg} sent for ${e.text} (ssid ${e.ssid})`;
    case "observed": return `observation started on ${e.text} (ssid ${e.ssid})`;
    case "observeCancelled": return `observation ended on ${e.text} (ssid ${e.ssid})`;
    case "bootstrapRequested": return "Bootstrap-Request sent";
    case "bootstrapped": return "bootstrap finished: configuration committed";
    case "bootstrapFailed": return `bootstrap failed (${e.arg})`;
    case "bootstrapRefused": return `Bootstrap-Finish refused: configuration error ${e.arg}, previous configuration kept`;
    case "registrationFailed": return `registration failed (ssid ${e.ssid}, ${e.arg})`;
    case "insecure": return `INSECURE NoSec channel to ${e.text}`;
    case "enrolled": return `EST ${e.arg ? "re-enrolment" : "enrolment"} done (ssid ${e.ssid}): ${e.text}`;
    case "enrolFailed": return `EST enrolment failed (ssid ${e.ssid}, ${e.arg >= 0 ? `CoAP ${e.arg >> 5}.${String(e.arg & 31).padStart(2, "0")}` : `status ${e.arg}`}): ${e.text}`;
    default: return `${e.name} ${e.ssid} ${e.arg} ${e.text}`;
  }
}

function device(args: string[]): number {
  if (!firmwarePresent()) return 2;
  if (flag(args, "-h") || flag(args, "--help")) { console.log(USAGE); return 0; }
  let cfg: FactoryConfig | null = null;
  const stateDir = option(args, "--state", "state")!;
  try {
    if (option(args, "--endpoint")) cfg = factoryConfig(args);
  } catch (e) {
    console.error(`lwm2m-wasm device: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const cid = option(args, "--cid");
  if (cid !== undefined && !/^([0-9]|[12][0-9]|3[0-2])$/.test(cid)) {
    console.error(`--cid ${cid}: the length of the connection ID the server is asked to use, 0..32`);
    return 2;
  }
  const sleepMode = option(args, "--sleep-mode", "resume")!;
  if (!(sleepMode in SLEEP_MODES)) {
    console.error(`--sleep-mode ${sleepMode}: keep (the DTLS connection kept, no handshake at wake), resume or full`);
    return 2;
  }
  const dev = openDevice(stateDir, cid === undefined ? undefined : Number(cid), sleepMode as SleepModeName);
  if (!dev) return EXIT_STATE;
  dev.on("log", (e) => printLog(e.levelName, e.text));
  dev.on("event", (e: ClientEvent) => printLog("event", describe(e)));
  dev.on("restart", () => printLog("event", "firmware restarted"));
  dev.on("fatal", (e) => { printLog("error", `FATAL: ${String(e)}`); process.exitCode = 1; });
  let status = dev.start();
  if (flag(args, "--factory-reset")) {
    status = dev.factoryReset();
    console.log(`factory reset: ${stateDir}/ erased (provisioned keys destroyed, store formatted)`);
    if (!cfg) { dev.stop(); return 0; }
  }
  const refused = stateRefusal(dev, stateDir);
  if (refused && !(dev.configStatus < 0 && flag(args, "--reprovision") && cfg)) {
    console.error(`lwm2m-wasm: ${refused}`);
    dev.stop();
    return EXIT_STATE;
  }
  const all = BootStatus.RngHealthy | BootStatus.SeHealthy | BootStatus.FlashMounted;
  if ((status & all) !== all) { console.error("boot failed"); dev.stop(); return 1; }
  if (dev.provisioned && !flag(args, "--reprovision")) {
    console.log(`using the configuration stored in ${stateDir}/ (--reprovision replaces it with the flags)`);
  } else if (!cfg) {
    console.error(`no stored configuration in ${stateDir}/: give --endpoint and --bootstrap or --server`);
    dev.stop();
    return 2;
  } else {
    try {
      dev.provision(cfg);
    } catch (e) {
      console.error(e instanceof ProvisionError ? e.message : String(e));
      dev.stop();
      return 1;
    }
  }
  const sleepS = option(args, "--sleep");
  if (sleepS !== undefined) {
    if (!(Number(sleepS) > 0)) { console.error(`--sleep: not a positive number of seconds: ${sleepS}`); dev.stop(); return 2; }
    sleepCycle(dev, Number(sleepS) * 1000, sleepMode as SleepModeName);
  }
  const quit = () => {
    printLog("info", "shutting down: de-registering");
    dev.shutdown(3000).then(() => process.exit(process.exitCode ?? 0));
  };
  process.once("SIGINT", quit);
  process.once("SIGTERM", quit);
  return -1; // keep running
}

/**
 * --sleep S (LPWA-1, DTLS-10): after each completed Register / Update the device
 * powers down (prepare_sleep: close_notify, the DTLS session stays sealed in
 * --state DIR), sleeps S seconds, and powers up again as a new module instance
 * on the same flash and SE: the wake resumes the stored session with an
 * abbreviated handshake before its first request.
 */
function sleepCycle(dev: Device, ms: number, mode: SleepModeName): void {
  let sleeping = false;
  dev.on("event", (e: ClientEvent) => {
    if (sleeping || (e.name !== "registered" && e.name !== "updated")) return;
    sleeping = true;
    setImmediate(async () => {
      printLog("info", `power-down for ${ms / 1000} s (deep sleep): DTLS ${mode === "keep" ? "connection" : mode === "full" ? "session dropped" : "session"}${mode === "full" ? "" : " kept in the sealed store"}`);
      await dev.prepareSleep();
      setTimeout(() => {
        printLog("info", "wake: power-up (new firmware instance, same flash and SE)");
        sleeping = false;
        dev.reboot();
      }, ms);
    });
  });
}

const USAGE = `usage: lwm2m-wasm <command> [options]
  boot [--state DIR] [--factory-reset]
                        boot the firmware in the simulator and print each step; a refused state folder
                        (flash.img, se-keystore.json) exits with code 3 and the reason
  server [...]          the development Bootstrap-Server and LwM2M Server (server/README.md)
  fleet --count N --endpoint-prefix P (--bootstrap URI | --server URI) [...]
                        many simulated devices in one process: 'lwm2m-wasm fleet --help'
  device --endpoint EP (--bootstrap URI | --server URI) [--lifetime S] [--state DIR]
         [--ssid N] [--hold-off S] [--reprovision] [--factory-reset] [--sleep S [--sleep-mode keep|resume|full]] [--cid N]
         [--psk-identity ID --psk-key HEX [--low-entropy]]
         [--rpk-key FILE --server-rpk FILE] [--cert FILE --key FILE --ca FILE [--cert-usage N]]
         [--server-cert FILE --idevid-cert FILE --idevid-key FILE [--est coaps://HOST:PORT[/path]]
          [--est-ca FILE] [--renew-at PERCENT] [--est-skg] [--est-discover]]
                        run a simulated LwM2M device: coap:// = NoSec, coaps:// = DTLS with PSK,
                        RPK (key files PEM or DER) or X.509 (--cert-usage 0-3, default 3 = domain-issued
                        certificate), or Security Mode 4: a certificate enrolled by EST-coaps (RFC 9148)
                        with the factory IDevID at --est (default: the server itself), then X.509 with it;
                        'lwm2m-wasm server' prints ready-made commands; Ctrl-C de-registers;
                        --factory-reset erases the device first (keys, configuration, store: the only way
                        past a refused store); without --endpoint it only erases; --sleep S: after each
                        Register/Update the device powers down for S s and wakes as a new instance on the
                        same --state DIR, resuming its sealed DTLS session (abbreviated handshake);
                        --sleep-mode keep: the DTLS connection itself is sealed and the wake sends with no
                        handshake (with --cid the server finds it from a new port); full: a full handshake;
                        --cid N: DTLS Connection ID (RFC 9146, CCM_8 suites only), N = the length of the
                        CID the server is asked to use towards the device (0: only the server's CID is
                        used); the session then survives a new source address (NAT rebinding)`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  switch (command) {
    case "boot": return boot(rest);
    case "device": return device(rest);
    case "fleet": runFleet(rest, credentials).then((c) => process.exit(c), (e) => { console.error(e); process.exit(1); }); return -1;
    case undefined: case "-h": case "--help": console.log(USAGE); return command ? 0 : 2;
    default: console.error(`unknown command '${command}'\n${USAGE}`); return 2;
  }
}

const code = main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;

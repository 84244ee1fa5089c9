// Build profiles (issue 11): reads profiles.json (the one file that lists the
// profiles, every flag with what it removes, and every capacity with its
// default, floor and reason) and turns a profile into asc flags. Used by
// scripts/build.mjs, scripts/size.mjs, bench/ and test/profiles.test.ts
// (plain Node: no asc import here).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** profiles.json: flags (what each removes), capacities (default, floor, reason), profiles. */
export function readProfiles() {
  return JSON.parse(readFileSync(join(root, "profiles.json"), "utf8"));
}
export const DEFAULT_PROFILE = "full";
export function profileNames() { return Object.keys(readProfiles().profiles); }

/** A profile's asc flags: `--use FLAG=1` per flag, `--use CAP=value` per capacity (its
 *  value or the default). Refuses an unknown flag or capacity and one below its floor. */
export function profileUseFlags(name) {
  return checkProfile(readProfiles(), name);
}
/** profileUseFlags on a given profiles.json content (the test checks the refusals). */
export function checkProfile(cfg, name) {
  const p = cfg.profiles[name];
  if (!p) throw new Error(`unknown build profile ${name} (profiles.json: ${Object.keys(cfg.profiles).join(", ")})`);
  const out = [];
  for (const f of p.flags) {
    if (!(f in cfg.flags)) throw new Error(`profile ${name}: flag ${f} is not described in profiles.json "flags"`);
    out.push("--use", `${f}=1`);
  }
  for (const k of Object.keys(p.capacities)) if (!(k in cfg.capacities)) throw new Error(`profile ${name}: unknown capacity ${k}`);
  for (const [k, c] of Object.entries(cfg.capacities)) {
    const v = p.capacities[k] ?? c.default;
    if (!Number.isInteger(v) || v < c.min) throw new Error(`profile ${name}: ${k} = ${v} is below its floor ${c.min} (${c.why})`);
    out.push("--use", `${k}=${v}`);
  }
  // a block (RFC 7959 2.2) plus header, token and options must fit one message
  const cap = (k) => p.capacities[k] ?? cfg.capacities[k]?.default;
  if (cap("CAP_COAP_SZX") !== undefined && cap("CAP_COAP_MSG") < 2 ** (cap("CAP_COAP_SZX") + 4) + 64) {
    throw new Error(`profile ${name}: CAP_COAP_MSG ${cap("CAP_COAP_MSG")} cannot hold a 2^(CAP_COAP_SZX+4)-byte block with its options`);
  }
  return out;
}
/** Where a profile's release goes (profiles.json "output"). */
export function profileOutput(name) { return readProfiles().profiles[name].output; }


// ---- features, for the tests (scripts/run-tests.mjs, test/helpers/profile.ts) ----
/** The feature a flag removes, named after the flag: PROFILE_NO_X509 "x509",
 *  PROFILE_NO_SENML_JSON "senml-json", DTLS_CLIENT_ONLY "dtls-server". */
export function featureOf(flag) {
  if (flag === "DTLS_CLIENT_ONLY") return "dtls-server";
  return flag.replace(/^PROFILE_NO_/, "").toLowerCase().replace(/_/g, "-");
}
/** The flag that removes a feature; an unknown feature name throws (a typo must not skip a test). */
export function flagOf(feature, cfg = readProfiles()) {
  const flag = Object.keys(cfg.flags).find((f) => featureOf(f) === feature);
  if (!flag) throw new Error(`unknown feature "${feature}": profiles.json's flags give ${Object.keys(cfg.flags).map(featureOf).join(", ")}`);
  return flag;
}
/** The features a profile's tests lack: its flags the default profile does not set (the default
 *  profile's test entries are built without flags, every layer in: scripts/build.mjs testProfileFlags). */
export function lackedFeatures(profile, cfg = readProfiles()) {
  if (!cfg.profiles[profile]) throw new Error(`unknown build profile ${profile} (profiles.json: ${Object.keys(cfg.profiles).join(", ")})`);
  const dflt = new Set(cfg.profiles[DEFAULT_PROFILE].flags);
  return cfg.profiles[profile].flags.filter((f) => !dflt.has(f)).map(featureOf);
}
/** A test file's `// @needs FEATURE [FEATURE...]` header lines (features it needs as a whole). */
export function fileNeeds(source, cfg = readProfiles()) {
  const out = [];
  for (const m of source.matchAll(/^\/\/ @needs ([a-z0-9 -]+)$/gm)) for (const f of m[1].trim().split(/\s+/)) { flagOf(f, cfg); out.push(f); }
  return out;
}

// ---- test entries per profile (scripts/build.mjs) ----
/** A test entry is profile-sensitive when it imports assembly/profile.ts (directly or
 *  through the layers it imports): its code changes with a profile's flags and capacities. */
export function profileSensitive(name) {
  const target = join(root, "assembly/profile.ts");
  const seen = new Set();
  const reaches = (file) => {
    if (file === target) return true;
    if (seen.has(file)) return false;
    seen.add(file);
    for (const m of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*"(\.{1,2}\/[^"]+)"/g)) {
      const base = join(dirname(file), m[1]);
      const f = existsSync(`${base}.ts`) ? `${base}.ts` : join(base, "index.ts");
      if (existsSync(f) && reaches(f)) return true;
    }
    return false;
  };
  return reaches(join(root, "assembly/tests", `${name}.ts`));
}

/** The asc flags of a profile's test entries. The default profile's entries are built without
 *  flags (every layer in, the DTLS server role too: the suite tests the layers, not just the
 *  firmware); another profile's get its capacities and the flags the default profile does not
 *  set, so each test runs against the layers that profile ships. */
export function testProfileFlags(profile, fixed = new Set()) {
  if (profile === DEFAULT_PROFILE) return [];
  const cfg = readProfiles();
  const dflt = new Set(cfg.profiles[DEFAULT_PROFILE].flags);
  const flags = profileUseFlags(profile);
  const out = [];
  for (let i = 0; i < flags.length; i += 2) {
    const name = flags[i + 1].split("=")[0];
    if (!dflt.has(name) && !fixed.has(name)) out.push(flags[i], flags[i + 1]);
  }
  return out;
}


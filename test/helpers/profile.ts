// What the build profile under test (LWM2M_PROFILE, host-shim/node/profile.ts)
// lacks, by feature, derived from profiles.json's flags (scripts/profiles.mjs
// featureOf: PROFILE_NO_X509 is "x509", DTLS_CLIENT_ONLY "dtls-server"). A test
// that needs a feature says so, `test("...", needs("x509"), async () => ...)`;
// a profile without it skips the test with one line naming the feature and its
// flag. A whole file says so in a header line `// @needs x509`, and
// scripts/run-tests.mjs leaves it out of that profile's run.
import { PROFILE, PROFILES } from "../../host-shim/node/profile";
import { flagOf, lackedFeatures } from "../../scripts/profiles.mjs";

export { PROFILE, PROFILES };

const LACKED = new Set(lackedFeatures(PROFILE));

/** Whether the profile under test has a feature (an unknown feature name throws). */
export function profileHas(feature: string): boolean {
  flagOf(feature);
  return !LACKED.has(feature);
}

/** A capacity of the profile under test (its own value or profiles.json's default). */
export function capacity(name: string): number {
  const c = PROFILES.capacities[name];
  if (!c) throw new Error(`unknown capacity ${name}`);
  return PROFILES.profiles[PROFILE].capacities[name] ?? c.default;
}

/** node:test options: skip, naming what is missing, when the profile lacks one of the
 *  features or has a capacity below the one given (`{ CAP_SERVERS: 2 }`). */
export function needs(...what: (string | Record<string, number>)[]): { skip?: string } {
  const why: string[] = [];
  for (const w of what) {
    if (typeof w === "string") { if (!profileHas(w)) why.push(`${w} (${flagOf(w)})`); }
    else for (const [name, least] of Object.entries(w)) if (capacity(name) < least) why.push(`${name} >= ${least} (it has ${capacity(name)})`);
  }
  return why.length ? { skip: `${PROFILE} lacks ${why.join(", ")}` } : {};
}

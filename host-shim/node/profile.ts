// The build profile the Node host runs (issue 11): LWM2M_PROFILE names a
// profile of profiles.json (default `full`); its release module is the
// simulator's default firmware (FIRMWARE_PATH) and the test helpers load that
// profile's test entries. This is the one place that reads the variable.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");

export interface ProfilesFile {
  flags: Record<string, string>;
  capacities: Record<string, { default: number; min: number; why: string }>;
  profiles: Record<string, { description: string; output: string; flags: string[]; capacities: Record<string, number>; budgets?: Record<string, number> }>;
}

export const PROFILES: ProfilesFile = JSON.parse(readFileSync(join(ROOT, "profiles.json"), "utf8"));
export const DEFAULT_PROFILE = "full";

/** The profile named by LWM2M_PROFILE (unset or empty: `full`); an unknown name is refused. */
export const PROFILE: string = (() => {
  const name = process.env.LWM2M_PROFILE || DEFAULT_PROFILE;
  if (!(name in PROFILES.profiles)) {
    throw new Error(`LWM2M_PROFILE=${name}: not a profile of profiles.json (${Object.keys(PROFILES.profiles).join(", ")})`);
  }
  return name;
})();

/** A profile's release module (profiles.json "output"), absolute. */
export function profileFirmwarePath(name: string = PROFILE): string {
  return join(ROOT, PROFILES.profiles[name].output);
}

// Types of scripts/profiles.mjs for the TypeScript that imports it (bench/, test/profiles.test.ts).
/** A build profile's asc flags (`--use FLAG=1`, `--use CAP=value`) from profiles.json. */
export function profileUseFlags(name: string): string[];
/** The same on a given profiles.json content; throws on an unknown flag / capacity or one below its floor. */
export function checkProfile(cfg: unknown, name: string): string[];
export function profileNames(): string[];
export function profileOutput(name: string): string;
export function readProfiles(): any;
export const DEFAULT_PROFILE: string;
/** The feature a profiles.json flag removes (PROFILE_NO_X509: "x509"; DTLS_CLIENT_ONLY: "dtls-server"). */
export function featureOf(flag: string): string;
/** The flag that removes a feature; throws on an unknown feature. */
export function flagOf(feature: string, cfg?: unknown): string;
/** The features a profile's tests lack (its flags the default profile does not set). */
export function lackedFeatures(profile: string, cfg?: unknown): string[];
/** A test file's `// @needs FEATURE...` header features. */
export function fileNeeds(source: string, cfg?: unknown): string[];
/** A test entry of assembly/tests imports assembly/profile.ts (directly or through its layers). */
export function profileSensitive(name: string): boolean;
/** The asc flags of a profile's test-entry variants (none for the default profile); `fixed`: capacities the entry sets itself. */
export function testProfileFlags(profile: string, fixed?: Set<string>): string[];

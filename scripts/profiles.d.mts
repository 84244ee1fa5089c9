// Types of scripts/profiles.mjs for the TypeScript that imports it (bench/, test/profiles.test.ts).
/** A build profile's asc flags (`--use FLAG=1`, `--use CAP=value`) from profiles.json. */
export function profileUseFlags(name: string): string[];
/** The same on a given profiles.json content; throws on an unknown flag / capacity or one below its floor. */
export function checkProfile(cfg: unknown, name: string): string[];
export function profileNames(): string[];
export function profileOutput(name: string): string;
export function readProfiles(): any;
export const DEFAULT_PROFILE: string;

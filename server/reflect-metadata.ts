// The Reflect metadata calls (reflect-metadata proposal: defineMetadata,
// getOwnMetadata, getMetadata, metadata) that @peculiar/x509's dependency
// tsyringe needs at load time; installed only when no polyfill is present.
// Import this before "@peculiar/x509" (server/est.ts does).
type Store = Map<string | symbol | undefined, Map<unknown, unknown>>;
const stores = new WeakMap<object, Store>();

function table(target: object, prop: string | symbol | undefined, create: boolean): Map<unknown, unknown> | undefined {
  let s = stores.get(target);
  if (!s) { if (!create) return undefined; s = new Map(); stores.set(target, s); }
  let t = s.get(prop);
  if (!t && create) { t = new Map(); s.set(prop, t); }
  return t;
}

const R = Reflect as unknown as Record<string, unknown>;
if (typeof R.getMetadata !== "function") {
  const defineMetadata = (key: unknown, value: unknown, target: object, prop?: string | symbol) => { table(target, prop, true)!.set(key, value); };
  const getOwnMetadata = (key: unknown, target: object, prop?: string | symbol) => table(target, prop, false)?.get(key);
  const getMetadata = (key: unknown, target: object, prop?: string | symbol): unknown => {
    for (let o: object | null = target; o; o = Object.getPrototypeOf(o)) {
      const t = table(o, prop, false);
      if (t?.has(key)) return t.get(key);
    }
    return undefined;
  };
  Object.assign(R, {
    defineMetadata, getOwnMetadata, getMetadata,
    metadata: (key: unknown, value: unknown) => (target: object, prop?: string | symbol) => defineMetadata(key, value, target, prop),
  });
}
export {};

// AssemblyScript transform (asconfig.json "transform", a local package: package.json
// devDependencies "lwm2m-wasm-asc-transforms": "file:scripts/asc-transforms"): log text stored as ASCII bytes
// instead of UTF-16 strings. AssemblyScript keeps every string literal as
// UTF-16 with a 16-byte header, so the firmware's log and event lines cost
// twice their length and more. For a string literal passed straight to one of
// the log-line functions below (also both arms of `c ? "a" : "b"`), this
// replaces the literal with `memory.data<u8>([n, ...bytes])`: a length byte
// and the ASCII bytes, one copy per distinct text and source file (a
// top-level const added to the source). Those functions are generic (`<T>`: a string or such a
// usize) and write the same bytes either way, so a build without the transform
// behaves the same, only larger. A literal that is not ASCII or longer than
// 255 bytes fails the build (the two encodings would differ).
import { Node } from "assemblyscript";

/** Module (internal path suffix) -> functions whose string-literal arguments become ASCII bytes. */
const TARGETS = {
  "util/log": ["log", "logNum", "info", "warn", "error"],
  "lwm2m/client/events": ["lb", "ls"],
  "firmware/transport": ["logReason"],
};

// NodeKind / LiteralKind values (const enums in assemblyscript.d.ts).
const K = { Call: 10, Identifier: 7, Literal: 17, Parenthesized: 21, Ternary: 23, Import: 43 };
const LITERAL_STRING = 2;

function targetOf(internalPath) {
  for (const [suffix, names] of Object.entries(TARGETS)) if (internalPath === suffix || internalPath.endsWith("/" + suffix)) return names;
  return null;
}

/** Local name -> true for the target functions visible in this source. */
function localTargets(source) {
  const names = new Set(targetOf(source.internalPath) ?? []);
  for (const s of source.statements) {
    if (s.kind !== K.Import || !s.declarations) continue;
    const t = targetOf(s.internalPath ?? "");
    if (!t) continue;
    for (const d of s.declarations) if (t.includes(d.foreignName.text)) names.add(d.name.text);
  }
  return names;
}

function isString(e) { return e.kind === K.Literal && e.literalKind === LITERAL_STRING; }
function convertible(e) {
  if (isString(e)) return true;
  if (e.kind === K.Parenthesized) return convertible(e.expression);
  if (e.kind === K.Ternary) return convertible(e.ifThen) && convertible(e.ifElse);
  return false;
}

function asciiBytes(e) {
  const s = e.value;
  const where = `${e.range.source.normalizedPath}:${e.range.source.lineAt(e.range.start)}`;
  if (s.length > 255) throw new Error(`ascii-literals: ${where}: literal longer than 255 bytes`);
  const out = [s.length];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7e || (c < 0x20 && c !== 0x09 && c !== 0x0a)) throw new Error(`ascii-literals: ${where}: not printable ASCII: ${JSON.stringify(s)}`);
    out.push(c);
  }
  return out;
}

/** memory.data<u8>([n, b0, b1, ...]) for a literal. */
function dataCall(e) {
  const r = e.range;
  const bytes = asciiBytes(e).map((b) => Node.createIntegerLiteralExpression(globalThis.i64_new(b, 0), r));
  return Node.createCallExpression(
    Node.createPropertyAccessExpression(Node.createIdentifierExpression("memory", r), Node.createIdentifierExpression("data", r), r),
    [Node.createNamedType(Node.createSimpleTypeName("u8", r), null, false, r)],
    [Node.createArrayLiteralExpression(bytes, r)], r);
}

const CONST = 8; // CommonFlags.Const

/**
 * The literal as an identifier of a top-level `const __asciiN = memory.data<u8>([...])`
 * of its source: one copy of each distinct text per source file (memory.data is
 * never shared by asc; several log lines of a file often begin alike, "DTLS: ssid=").
 */
function convert(e, pool) {
  const r = e.range;
  if (e.kind === K.Parenthesized) return Node.createParenthesizedExpression(convert(e.expression, pool), r);
  if (e.kind === K.Ternary) return Node.createTernaryExpression(e.condition, convert(e.ifThen, pool), convert(e.ifElse, pool), r);
  let name = pool.names.get(e.value);
  if (!name) {
    name = `__ascii${pool.names.size}`;
    pool.names.set(e.value, name);
    pool.decls.push(Node.createVariableStatement(null, [
      Node.createVariableDeclaration(Node.createIdentifierExpression(name, r), null, CONST, null, dataCall(e), r),
    ], r));
  }
  return Node.createIdentifierExpression(name, r);
}

/** Every AST node below `node` (properties holding nodes or arrays of nodes; not ranges). */
function walk(node, visit, seen = new Set()) {
  if (!node || typeof node !== "object" || seen.has(node)) return;
  seen.add(node);
  if (Array.isArray(node)) { for (const x of node) walk(x, visit, seen); return; }
  if (typeof node.kind !== "number") return;
  visit(node);
  for (const [k, v] of Object.entries(node)) if (k !== "range" && v && typeof v === "object") walk(v, visit, seen);
}

export default {
  afterParse(parser) {
    let count = 0, distinct = 0;
    for (const source of parser.sources) {
      if (source.internalPath.startsWith("~lib/")) continue;
      const names = localTargets(source);
      if (names.size === 0) continue;
      const pool = { names: new Map(), decls: [] };
      walk(source.statements, (n) => {
        if (n.kind !== K.Call || n.expression.kind !== K.Identifier || !names.has(n.expression.text)) return;
        for (let i = 0; i < n.args.length; i++) if (convertible(n.args[i])) { n.args[i] = convert(n.args[i], pool); count++; }
      });
      source.statements.push(...pool.decls);
      distinct += pool.decls.length;
    }
    if (process.env.ASCII_LITERALS_VERBOSE) console.error(`ascii-literals: ${count} literals, ${distinct} distinct per source`);
  },
};

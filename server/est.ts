// EST-coaps (RFC 9148) registration authority in front of a development CA,
// for the development LwM2M Server (and Bootstrap-Server): the resources of
// RFC 9148 §4.1 under /.well-known/est (and the short /est paths that
// discovery returns), served over DTLS only:
//   GET  crts  -> 2.05, CF 281 (PKCS#7 certs-only) or 287 (one DER certificate) by Accept
//   POST sen   CF 286 (PKCS#10) -> 2.04, CF 281 or 287; P-256 key, ecdsa-with-SHA256, signature verified
//   POST sren  as sen, only with a client certificate this CA issued and the same subject (RFC 7030 §4.2.2)
//   GET  att   -> 2.05, CF 285 CsrAttrs (RFC 7030 §4.5.2): CN, id-ecPublicKey on P-256, ecdsa-with-SHA256
//   POST skg   CF 286, Accept 62 -> 2.04, CF 62 multipart-core (RFC 8710) [284 PKCS#8, 281 PKCS#7]
//   GET  /.well-known/core[?rt=...] -> the rt="ace.est.*" links (RFC 9148 §4.1, RFC 6690 filtering)
// Certificates are made by @peculiar/x509 on node's webcrypto (never by hand);
// the CA is the development PKI's (server/dev-pki.ts).
import { EventEmitter } from "node:events";
import { createHash, createPrivateKey, createPublicKey, verify as nodeVerify, webcrypto, X509Certificate as NodeX509 } from "node:crypto";
import "./reflect-metadata"; // before @peculiar/x509 (tsyringe)
import * as x509 from "@peculiar/x509";
import { AsnConvert } from "@peculiar/asn1-schema"; // both come with @peculiar/x509
import { CertificationRequest } from "@peculiar/asn1-csr";
import * as asn1js from "asn1js";
import { Code, ContentFormat, IncomingRequest, OutgoingResponse, Opt, decodeBlock, getOption, toBytes } from "./coap";
import { cborg, formatLinkFormat, Link } from "./formats";
import type { PeerIdentity } from "./transport";

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

/** CoAP Content-Formats of RFC 9148 §8.3 (and multipart-core, RFC 8710). */
export const EstContentFormat = {
  MULTIPART_CORE: 62,
  /** application/pkcs7-mime; smime-type=certs-only */
  PKCS7_CERTS_ONLY: 281,
  PKCS8: 284,
  CSR_ATTRS: 285,
  PKCS10: 286,
  PKIX_CERT: 287,
} as const;

export type EstOperation = "crts" | "sen" | "sren" | "att" | "skg";
const OPERATIONS: EstOperation[] = ["crts", "sen", "sren", "att", "skg"];

/** OIDs in the CSR checks and in CsrAttrs. */
const OID = {
  ecdsaWithSHA256: "1.2.840.10045.4.3.2", // RFC 5758 §3.2
  idEcPublicKey: "1.2.840.10045.2.1", // RFC 5480 §2.1.1
  secp256r1: "1.2.840.10045.3.1.7", // RFC 5480 §2.1.1.1
  commonName: "2.5.4.3", // X.520 id-at-commonName
} as const;

/** Largest CSR accepted (bigger: 4.13). A P-256 CSR is about 250 bytes. */
export const MAX_CSR_SIZE = 4096;

export interface EstCa {
  /** The CA certificate (DER). */
  certificate: Uint8Array;
  /** Its private key (P-256) for webcrypto signing. */
  privateKey: CryptoKey;
}

/** The CA from PEM/DER files (certificate and PKCS#8 / SEC1 private key), e.g. the development PKI's ca.crt / ca.key. */
export async function loadEstCa(certPem: string | Uint8Array, keyPem: string | Uint8Array): Promise<EstCa> {
  const cert = new NodeX509(typeof certPem === "string" ? certPem : Buffer.from(certPem));
  const key = createPrivateKey(typeof keyPem === "string" ? keyPem : { key: Buffer.from(keyPem), format: "der", type: "pkcs8" });
  const pkcs8 = key.export({ format: "der", type: "pkcs8" });
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  return { certificate: new Uint8Array(cert.raw), privateKey };
}

/** Who may enrol: a PSK identity belongs to an endpoint (the CSR's CN must then be that endpoint name). */
export interface EstPskAccount { endpoint: string; key: Uint8Array }

export interface EstRaOptions {
  ca: EstCa;
  /** PSK identity -> account (identities accepted for EST besides the listener's own; see startDevServers). */
  psk?: Map<string, EstPskAccount>;
  /** Validity of issued certificates in seconds (default 365 days). */
  validitySeconds?: number;
}

export interface EstIssued {
  operation: "sen" | "sren" | "skg";
  peerKey: string;
  /** Subject of the issued certificate (RFC 4514-ish text). */
  subject: string;
  serialNumber: string;
  /** The issued certificate (DER). */
  certificate: Uint8Array;
  identity?: PeerIdentity;
}

export interface EstRefusal { operation: EstOperation; peerKey: string; code: number; reason: string }

class Refusal extends Error {
  constructor(readonly code: number, reason: string) { super(reason); }
}
const refuse = (code: number, reason: string): never => { throw new Refusal(code, reason); };

/** The EST operation a request path names ("/.well-known/est/sen" or the short "/est/sen"), or null. */
export function estOperationOf(path: string): EstOperation | null {
  const m = /^\/(?:\.well-known\/est|est)\/([a-z]+)$/.exec(path);
  return m && (OPERATIONS as string[]).includes(m[1]) ? (m[1] as EstOperation) : null;
}

/** The links /.well-known/core lists (RFC 9148 §4.1): the short paths, with their Content-Formats. */
export const EST_LINKS: Link[] = [
  { uri: "/est/crts", params: { rt: "ace.est.crts", ct: "281 287" } },
  { uri: "/est/sen", params: { rt: "ace.est.sen", ct: "281 287" } },
  { uri: "/est/sren", params: { rt: "ace.est.sren", ct: "281 287" } },
  { uri: "/est/att", params: { rt: "ace.est.att", ct: "285" } },
  { uri: "/est/skg", params: { rt: "ace.est.skg", ct: "62" } },
];

/** RFC 6690 §4.1 query filtering: `attr=value` (a trailing `*` matches a prefix; rt/ct values are space-separated lists). */
export function filterLinks(links: Link[], query: string[]): Link[] {
  return links.filter((l) => query.every((q) => {
    const i = q.indexOf("=");
    if (i < 0) return true;
    const name = q.slice(0, i), want = q.slice(i + 1);
    const match = (v: string) => (want.endsWith("*") ? v.startsWith(want.slice(0, -1)) : v === want);
    if (name === "href") return match(l.uri);
    const v = l.params[name];
    if (v === undefined || v === true) return false;
    return String(v).split(" ").some(match);
  }));
}

/** How long a POST response is kept for its later Block2 blocks. */
const POST_KEPT_MS = 60_000;

interface CachedPost { body: Uint8Array; contentFormat: number; etag: Uint8Array; expires: number }

/**
 * The registration authority. `handle(req)` answers a request for an EST or
 * /.well-known/core path (a promise), or returns null for any other path so
 * the server's own handler runs. Events: 'issued' (EstIssued), 'refused'
 * (EstRefusal).
 */
export class EstRa extends EventEmitter {
  readonly ca: EstCa;
  readonly caCertificate: x509.X509Certificate;
  readonly psk: Map<string, EstPskAccount>;
  readonly validitySeconds: number;
  readonly issued: EstIssued[] = [];
  /**
   * Test hook for the device side's bad-input tests: called for every
   * authenticated DTLS request to an EST resource before the RA's own
   * checks; a response it returns is sent as is (wrong Content-Format, 5.03
   * with Max-Age, a certificate for another key from `issue()`, ...), null
   * lets the RA answer.
   */
  intercept: ((op: EstOperation, req: IncomingRequest) => OutgoingResponse | Promise<OutgoingResponse> | null) | null = null;
  /** Responses to POSTs kept for their later Block2 blocks (RFC 7959 §2.4: the body is not re-sent). */
  private posts = new Map<string, CachedPost>();
  private readonly caNode: NodeX509;

  constructor(opts: EstRaOptions) {
    super();
    this.ca = opts.ca;
    this.caCertificate = new x509.X509Certificate(copy(opts.ca.certificate));
    this.caNode = new NodeX509(Buffer.from(opts.ca.certificate));
    this.psk = opts.psk ?? new Map();
    this.validitySeconds = opts.validitySeconds ?? 365 * 86400;
  }

  handle(req: IncomingRequest): Promise<OutgoingResponse> | null {
    if (req.path === "/.well-known/core") return Promise.resolve(this.core(req));
    const op = estOperationOf(req.path);
    if (!op) return null;
    return this.serve(op, req).catch((e) => {
      if (!(e instanceof Refusal)) throw e;
      this.emit("refused", { operation: op, peerKey: req.peerKey, code: e.code, reason: e.message } satisfies EstRefusal);
      return { code: e.code, payload: toBytes(e.message) };
    });
  }

  private core(req: IncomingRequest): OutgoingResponse {
    if (req.code !== Code.GET) return { code: Code.METHOD_NOT_ALLOWED };
    if (req.accept !== undefined && req.accept !== ContentFormat.LINK_FORMAT) return { code: Code.NOT_ACCEPTABLE };
    // EST is offered over DTLS only, so plain CoAP discovers nothing
    const links = req.peer.secure ? filterLinks(EST_LINKS, req.query) : [];
    return { code: Code.CONTENT, contentFormat: ContentFormat.LINK_FORMAT, payload: toBytes(formatLinkFormat(links)) };
  }

  private async serve(op: EstOperation, req: IncomingRequest): Promise<OutgoingResponse> {
    // RFC 9148 §3: EST-coaps runs over DTLS; the client is authenticated there (PSK or certificate)
    if (!req.peer.secure || !req.peer.identity) refuse(Code.UNAUTHORIZED, "EST-coaps is served over DTLS only (RFC 9148 section 3)");
    const identity = req.peer.identity!;
    const intercepted = this.intercept ? await this.intercept(op, req) : null;
    if (intercepted) return intercepted;
    const wantMethod = op === "crts" || op === "att" ? Code.GET : Code.POST;
    if (req.code !== wantMethod) refuse(Code.METHOD_NOT_ALLOWED, `${op} takes ${wantMethod === Code.GET ? "GET" : "POST"}`);
    if (identity.kind === "rpk") refuse(Code.FORBIDDEN, "EST clients authenticate with a PSK or a certificate, not a raw public key");
    if (identity.kind === "psk" && !this.psk.has(identity.identity)) refuse(Code.FORBIDDEN, `PSK identity '${identity.identity}' has no EST account`);

    if (op === "crts") {
      // RFC 9148 §4.3: 281 by default, 287 when asked
      const accept = req.accept ?? EstContentFormat.PKCS7_CERTS_ONLY;
      if (accept === EstContentFormat.PKIX_CERT) return this.withEtag({ code: Code.CONTENT, contentFormat: accept, payload: this.ca.certificate });
      if (accept !== EstContentFormat.PKCS7_CERTS_ONLY) refuse(Code.NOT_ACCEPTABLE, "crts: Accept 281 or 287");
      return this.withEtag({ code: Code.CONTENT, contentFormat: accept, payload: pkcs7CertsOnly([this.caCertificate]) });
    }
    if (op === "att") {
      if (req.accept !== undefined && req.accept !== EstContentFormat.CSR_ATTRS) refuse(Code.NOT_ACCEPTABLE, "att: Accept 285");
      return this.withEtag({ code: Code.CONTENT, contentFormat: EstContentFormat.CSR_ATTRS, payload: csrAttributes() });
    }

    // POST sen / sren / skg. Later Block2 blocks of a response are served from the first one (RFC 7959 §2.4).
    const b2raw = getOption(req.message, Opt.BLOCK2);
    const b2 = b2raw ? decodeBlock(b2raw) : null;
    const cacheKey = `${req.peerKey}|${op}`;
    if (b2 && b2.num > 0) {
      const c = this.posts.get(cacheKey);
      if (!c || c.expires < Date.now()) refuse(Code.REQUEST_ENTITY_INCOMPLETE, `${op}: no response to continue (Block2 ${b2.num})`);
      return { code: Code.CHANGED, contentFormat: c!.contentFormat, payload: c!.body, options: [{ number: Opt.ETAG, value: c!.etag }] };
    }
    const accept = req.accept;
    if (op === "skg") {
      if (accept !== undefined && accept !== EstContentFormat.MULTIPART_CORE) refuse(Code.NOT_ACCEPTABLE, "skg: Accept 62 (multipart-core)");
    } else if (accept !== undefined && accept !== EstContentFormat.PKCS7_CERTS_ONLY && accept !== EstContentFormat.PKIX_CERT) {
      refuse(Code.NOT_ACCEPTABLE, `${op}: Accept 281 or 287`);
    }
    // RFC 9148 §5.5 / RFC 7252 §5.10.3: a request body in another format is 4.15
    if (req.contentFormat !== EstContentFormat.PKCS10) refuse(Code.UNSUPPORTED_CONTENT_FORMAT, `${op}: Content-Format 286 (PKCS#10) expected`);
    if (req.payload.length > MAX_CSR_SIZE) refuse(Code.REQUEST_ENTITY_TOO_LARGE, `${op}: a CSR is at most ${MAX_CSR_SIZE} bytes`);
    const csr = await checkCsr(req.payload);
    const subject = csr.subjectName;
    const cn = subject.getField("CN");
    if (cn.length !== 1 || !cn[0]) refuse(Code.BAD_REQUEST, `${op}: the CSR subject needs one CN`);
    this.authorize(op, identity, cn[0], subject);

    let publicKey: x509.PublicKey = csr.publicKey;
    let pkcs8: Uint8Array | null = null;
    if (op === "skg") {
      // RFC 9148 §4.8 / RFC 7030 §4.4: the server makes the key; the CSR gives the subject
      const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
      publicKey = await x509.PublicKey.create(pair.publicKey, crypto);
      pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
    }
    const cert = await this.issue(subject, publicKey);
    const der = new Uint8Array(cert.rawData);
    const issued: EstIssued = { operation: op as EstIssued["operation"], peerKey: req.peerKey, subject: cert.subject, serialNumber: cert.serialNumber, certificate: der, identity };
    this.issued.push(issued);
    this.emit("issued", issued);

    let body: Uint8Array, contentFormat: number;
    if (op === "skg") {
      // RFC 8710 multipart-core: [content-format, bytes, ...]. The key's own copy is wiped now; the body
      // (kept for the later Block2 blocks) is wiped when it is replaced or expires
      body = cborg().encode([EstContentFormat.PKCS8, pkcs8!, EstContentFormat.PKCS7_CERTS_ONLY, pkcs7CertsOnly([cert])]);
      pkcs8!.fill(0);
      contentFormat = EstContentFormat.MULTIPART_CORE;
    } else if (accept === EstContentFormat.PKIX_CERT) {
      body = der; contentFormat = accept;
    } else {
      body = pkcs7CertsOnly([cert]); contentFormat = EstContentFormat.PKCS7_CERTS_ONLY;
    }
    const etag = etagOf(body);
    const now = Date.now();
    for (const [k, v] of this.posts) if (v.expires < now || k === cacheKey) this.forgetPost(k, v);
    const kept: CachedPost = { body, contentFormat, etag, expires: now + POST_KEPT_MS };
    this.posts.set(cacheKey, kept);
    if (op === "skg") setTimeout(() => { if (this.posts.get(cacheKey) === kept) this.forgetPost(cacheKey, kept); }, POST_KEPT_MS).unref();
    return { code: Code.CHANGED, contentFormat, payload: body, options: [{ number: Opt.ETAG, value: etag }] };
  }

  /** Drops a kept POST response; a server-generated key (skg) in it is wiped. */
  private forgetPost(key: string, p: CachedPost): void {
    if (p.contentFormat === EstContentFormat.MULTIPART_CORE) p.body.fill(0);
    this.posts.delete(key);
  }

  /**
   * Who may ask for which subject: a PSK account only for its own endpoint name
   * (CN); a certificate for any subject on sen / skg; sren only with a
   * certificate this CA issued, for the same subject (RFC 7030 §4.2.2).
   */
  private authorize(op: EstOperation, identity: PeerIdentity, cn: string, subject: x509.Name): void {
    if (op === "sren") {
      if (identity.kind !== "x509") refuse(Code.FORBIDDEN, "sren needs the current certificate as the DTLS client certificate");
      const current = new NodeX509(Buffer.from((identity as { certificate: Uint8Array }).certificate));
      if (!current.checkIssued(this.caNode) || !current.verify(this.caNode.publicKey)) refuse(Code.FORBIDDEN, "sren: the client certificate was not issued by this CA");
      const currentSubject = new x509.X509Certificate(current.raw).subjectName;
      if (!Buffer.from(currentSubject.toArrayBuffer()).equals(Buffer.from(subject.toArrayBuffer()))) {
        refuse(Code.FORBIDDEN, "sren: the CSR subject must equal the current certificate's subject (RFC 7030 section 4.2.2)");
      }
      return;
    }
    if (identity.kind === "psk") {
      const account = this.psk.get(identity.identity)!;
      if (cn !== account.endpoint) refuse(Code.FORBIDDEN, `PSK identity '${identity.identity}' may enrol CN=${account.endpoint} only`);
    }
  }

  /**
   * A certificate from this CA for a subject (a Name or "CN=...") and a public
   * key (SPKI DER or a webcrypto key); validity from a minute ago for
   * `validitySeconds` unless given. Public for tests (an expired certificate,
   * one for another key).
   */
  async issue(subject: x509.Name | string, publicKey: x509.PublicKey | Uint8Array | CryptoKey, validity: { notBefore?: Date; notAfter?: Date } = {}): Promise<x509.X509Certificate> {
    const now = Date.now();
    const key = publicKey instanceof x509.PublicKey ? publicKey : await x509.PublicKey.create(publicKey instanceof Uint8Array ? copy(publicKey) : publicKey, crypto);
    return x509.X509CertificateGenerator.create({
      serialNumber: "01" + Buffer.from(crypto.getRandomValues(new Uint8Array(15))).toString("hex"),
      subject: typeof subject === "string" ? new x509.Name(subject) : subject, issuer: this.caCertificate.subjectName,
      notBefore: validity.notBefore ?? new Date(now - 60_000), notAfter: validity.notAfter ?? new Date(now + this.validitySeconds * 1000),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
      publicKey: key, signingKey: this.ca.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        await x509.SubjectKeyIdentifierExtension.create(key, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(this.caCertificate.publicKey, false, crypto),
      ],
    }, crypto);
  }

  private withEtag(r: OutgoingResponse): OutgoingResponse {
    return { ...r, options: [...(r.options ?? []), { number: Opt.ETAG, value: etagOf(r.payload!) }] };
  }
}

/** A copy on its own ArrayBuffer (what @peculiar/x509 takes). */
const copy = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);
const etagOf = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest().subarray(0, 8));

/** PKCS#7 / CMS SignedData with certificates only (RFC 9148 §4.3, CF 281), by @peculiar/x509. */
export function pkcs7CertsOnly(certs: x509.X509Certificate[]): Uint8Array {
  return new Uint8Array(new x509.X509Certificates(certs).export("raw"));
}

/**
 * CsrAttrs (RFC 7030 §4.5.2): SEQUENCE OF AttrOrOID. We ask for a CN
 * (id-at-commonName), a P-256 key (Attribute id-ecPublicKey with the curve
 * secp256r1) and an ecdsa-with-SHA256 signature. Encoded by asn1js.
 */
export function csrAttributes(): Uint8Array {
  const seq = new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: OID.commonName }),
      new asn1js.Sequence({ value: [
        new asn1js.ObjectIdentifier({ value: OID.idEcPublicKey }),
        new asn1js.Set({ value: [new asn1js.ObjectIdentifier({ value: OID.secp256r1 })] }),
      ] }),
      new asn1js.ObjectIdentifier({ value: OID.ecdsaWithSHA256 }),
    ],
  });
  return new Uint8Array(seq.toBER(false));
}

/**
 * A PKCS#10 request we can sign: it is DER (re-encoding the parsed request
 * gives the same bytes: no BER leniency, no trailing bytes), its key is EC on
 * P-256, its signature algorithm is ecdsa-with-SHA256 and the signature
 * verifies under OpenSSL (node:crypto, which also refuses a non-DER
 * ECDSA-Sig-Value) — proof of possession, RFC 7030 §3.4. Anything else: 4.00.
 */
export async function checkCsr(der: Uint8Array): Promise<x509.Pkcs10CertificateRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  let tbs: Uint8Array, signature: Uint8Array;
  try {
    const asn = AsnConvert.parse(copy(der), CertificationRequest);
    if (!Buffer.from(AsnConvert.serialize(asn)).equals(Buffer.from(der))) throw new Error("not DER");
    tbs = new Uint8Array(AsnConvert.serialize(asn.certificationRequestInfo));
    signature = new Uint8Array(asn.signature);
    csr = new x509.Pkcs10CertificateRequest(copy(der));
  } catch {
    return refuse(Code.BAD_REQUEST, "not a DER PKCS#10 CertificationRequest");
  }
  let details: { type?: string; curve?: string };
  try {
    const k = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" });
    details = { type: k.asymmetricKeyType, curve: k.asymmetricKeyDetails?.namedCurve };
  } catch {
    return refuse(Code.BAD_REQUEST, "the CSR's public key does not parse");
  }
  if (details.type !== "ec" || details.curve !== "prime256v1") refuse(Code.BAD_REQUEST, `the CSR's key must be EC on P-256 (got ${details.type}${details.curve ? ` ${details.curve}` : ""})`);
  let alg: { name?: string; hash?: { name?: string } } = {};
  try { alg = csr.signatureAlgorithm as typeof alg; } catch { /* unknown algorithm */ }
  if (alg.name !== "ECDSA" || alg.hash?.name !== "SHA-256") refuse(Code.BAD_REQUEST, `the CSR must be signed with ecdsa-with-SHA256 (got ${alg.name ?? "an unknown algorithm"}${alg.hash?.name ? ` ${alg.hash.name}` : ""})`);
  let ok = false;
  try {
    const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" });
    ok = nodeVerify("sha256", tbs, { key, dsaEncoding: "der" }, signature);
  } catch { ok = false; }
  if (!ok) refuse(Code.BAD_REQUEST, "the CSR's signature does not verify");
  return csr;
}

/** The certificates (DER) in a PEM file (every CERTIFICATE block) or a DER file, e.g. `--client-ca FILE`. */
export function certificatesOf(data: Uint8Array | string): Uint8Array[] {
  const text = typeof data === "string" ? data : Buffer.from(data).toString("latin1");
  if (text.includes("-----BEGIN CERTIFICATE-----")) {
    return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)]
      .map((m) => new Uint8Array(new NodeX509(Buffer.from(m[1].replace(/\s+/g, ""), "base64")).raw));
  }
  return [new Uint8Array(new NodeX509(Buffer.from(text, "latin1")).raw)];
}

// Test entry of the DTLS server role: the development servers' entry
// (assembly/server/dtls_server.ts) built with the test runtime (stub), for
// test/helpers/dtls-harness.ts DtlsServer.
export * from "../server/dtls_server";

/* Test driver of the C host (test/boards-host.test.ts): one command per
 * line on stdin, one answer line on stdout. Byte strings are hex, "-" for
 * none. Exercises the host without a runtime: the DRBG against published
 * vectors, the SE against node:crypto and the Node host, and the ABI layer's
 * argument checks on a fake linear memory followed by a guard zone that must
 * stay untouched.
 *   drbg-kat ENTROPY NONCE PERS ADD1 ADD2 OUTLEN   -> the second output (SP 800-90A, as the CAVP files)
 *   rng os|stuck:BYTE                               -> init status, fill status, 32 output bytes
 *   se-init DIR|-                                   -> status (in memory with -)
 *   se-gen SLOT | se-import SLOT PRIV | se-pub SLOT -> status PUB
 *   se-sign SLOT DIGEST -> status SIG     se-verify PUB DIGEST SIG -> status
 *   se-ecdh SLOT PEER -> status SECRET    se-destroy SLOT -> status
 *   se-seal PLAIN AAD -> status SEALED    se-open SEALED AAD -> status PLAIN
 *   se-counter INC -> value
 *   abi MEMSIZE NAME ARGS... [@OFFSET=HEX ...] -> status guard=ok|CORRUPTED
 *     (memory of MEMSIZE bytes, zeroed, with HEX written at OFFSET first) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lwm2m_host.h"

#define GUARD 4096
static lwm2m_host h;

static size_t unhex(const char *s, uint8_t *out, size_t cap) {
  if (!strcmp(s, "-")) return 0;
  size_t n = strlen(s) / 2;
  if (n > cap) n = cap;
  for (size_t i = 0; i < n; i++) { unsigned v; sscanf(s + 2 * i, "%2x", &v); out[i] = (uint8_t)v; }
  return n;
}
static void hexout(const uint8_t *b, size_t n) {
  if (n == 0) { printf(" -"); return; }
  putchar(' ');
  for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
}

static int abi(int argc, char **argv) {
  uint64_t size = strtoull(argv[1], NULL, 0);
  uint8_t *mem = malloc(size + GUARD);
  memset(mem, 0, size);
  memset(mem + size, 0xA5, GUARD);
  uint32_t a[8] = { 0 };
  int na = 0;
  for (int i = 3; i < argc; i++) {
    if (argv[i][0] == '@') {
      uint32_t off = (uint32_t)strtoul(argv[i] + 1, NULL, 0);
      const char *eq = strchr(argv[i], '=');
      if (eq && off < size) unhex(eq + 1, mem + off, size - off);
    } else if (na < 8) a[na++] = (uint32_t)strtoul(argv[i], NULL, 0);
  }
  lwm2m_mem m = { mem, size };
  const char *f = argv[2];
  int64_t r;
  if (!strcmp(f, "rng_fill")) r = lwm2m_abi_rng_fill(&h, m, a[0], a[1]);
  else if (!strcmp(f, "se_generate_p256")) r = lwm2m_abi_se_generate_p256(&h, m, a[0], a[1]);
  else if (!strcmp(f, "se_import_p256")) r = lwm2m_abi_se_import_p256(&h, m, a[0], a[1], a[2], a[3]);
  else if (!strcmp(f, "se_public_key")) r = lwm2m_abi_se_public_key(&h, m, a[0], a[1]);
  else if (!strcmp(f, "se_sign_digest")) r = lwm2m_abi_se_sign_digest(&h, m, a[0], a[1], a[2]);
  else if (!strcmp(f, "se_ecdh")) r = lwm2m_abi_se_ecdh(&h, m, a[0], a[1], a[2], a[3]);
  else if (!strcmp(f, "se_verify_digest")) r = lwm2m_abi_se_verify_digest(&h, m, a[0], a[1], a[2], a[3]);
  else if (!strcmp(f, "se_seal")) r = lwm2m_abi_se_seal(&h, m, a[0], a[1], a[2], a[3], a[4], a[5]);
  else if (!strcmp(f, "se_open")) r = lwm2m_abi_se_open(&h, m, a[0], a[1], a[2], a[3], a[4], a[5]);
  else if (!strcmp(f, "flash_read")) r = lwm2m_abi_flash_read(&h, m, a[0], a[1], a[2]);
  else if (!strcmp(f, "flash_program")) r = lwm2m_abi_flash_program(&h, m, a[0], a[1], a[2]);
  else if (!strcmp(f, "flash_erase_sector")) r = lwm2m_abi_flash_erase_sector(&h, m, a[0]);
  else if (!strcmp(f, "net_open")) r = lwm2m_abi_net_open(&h, m, a[0], a[1], a[2]);
  else if (!strcmp(f, "net_send")) r = lwm2m_abi_net_send(&h, m, a[0], a[1], a[2]);
  else if (!strcmp(f, "log_write")) { lwm2m_abi_log_write(&h, m, a[0], a[1], a[2]); r = 0; }
  else { printf("unknown %s\n", f); free(mem); return 1; }
  int guard_ok = 1;
  for (size_t i = 0; i < GUARD; i++) if (mem[size + i] != 0xA5) guard_ok = 0;
  printf("%lld guard=%s\n", (long long)r, guard_ok ? "ok" : "CORRUPTED");
  free(mem);
  return 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  lwm2m_rng_init(&h.rng, lwm2m_entropy_os(), 0);
  lwm2m_se_init(&h.se, NULL);
  lwm2m_flash_init(&h.flash, NULL, 64 * 1024, 4096);
  lwm2m_net_init(&h.net);
  h.log_level_max = 3;
  static char line[65536];
  static uint8_t b1[16384], b2[16384], b3[16384], out[32768];
  static uint8_t stuck_value;
  while (fgets(line, sizeof line, stdin)) {
    char *argv[16]; int argc = 0;
    for (char *t = strtok(line, " \t\r\n"); t && argc < 16; t = strtok(NULL, " \t\r\n")) argv[argc++] = t;
    if (argc == 0) continue;
    const char *c = argv[0];
    if (!strcmp(c, "drbg-kat") && argc == 7) {
      size_t ne = unhex(argv[1], b1, 4096), nn = unhex(argv[2], b1 + ne, 4096), np = unhex(argv[3], b1 + ne + nn, 4096);
      mbedtls_hmac_drbg_context d;
      mbedtls_hmac_drbg_init(&d);
      size_t olen = (size_t)atoi(argv[6]);
      int r = lwm2m_hmac_drbg_instantiate(&d, b1, ne, b1 + ne, nn, b1 + ne + nn, np);
      for (int k = 4; k <= 5 && r == 0; k++) {
        size_t na = unhex(argv[k], b2, sizeof b2);
        r = mbedtls_hmac_drbg_random_with_add(&d, out, olen, na ? b2 : NULL, na);
      }
      printf("%d", r);
      hexout(out, olen);
      putchar('\n');
      mbedtls_hmac_drbg_free(&d);
    } else if (!strcmp(c, "rng") && argc == 2) {
      lwm2m_rng r;
      lwm2m_entropy_source src = lwm2m_entropy_os();
      if (!strncmp(argv[1], "stuck:", 6)) { stuck_value = (uint8_t)strtoul(argv[1] + 6, NULL, 0); src = lwm2m_entropy_stuck(&stuck_value); }
      int s1 = lwm2m_rng_init(&r, src, 0);
      memset(out, 0x77, 32);
      int s2 = lwm2m_rng_fill(&r, out, 32);
      printf("%d %d", s1, s2);
      hexout(out, 32);
      printf(" failure=%d\n", r.failure);
      lwm2m_rng_free(&r);
    } else if (!strcmp(c, "se-init") && argc == 2) {
      lwm2m_se_free(&h.se);
      printf("%d\n", lwm2m_se_init(&h.se, strcmp(argv[1], "-") ? argv[1] : NULL));
    } else if (!strcmp(c, "se-gen") && argc == 2) {
      int r = lwm2m_se_generate(&h.se, &h.rng, atoi(argv[1]), out);
      printf("%d", r); hexout(out, r == 0 ? 65 : 0); putchar('\n');
    } else if (!strcmp(c, "se-import") && argc == 3) {
      size_t n = unhex(argv[2], b1, sizeof b1);
      int r = lwm2m_se_import(&h.se, atoi(argv[1]), b1, n, out);
      printf("%d", r); hexout(out, r == 0 ? 65 : 0); putchar('\n');
    } else if (!strcmp(c, "se-pub") && argc == 2) {
      int r = lwm2m_se_public_key(&h.se, atoi(argv[1]), out);
      printf("%d", r); hexout(out, r == 0 ? 65 : 0); putchar('\n');
    } else if (!strcmp(c, "se-sign") && argc == 3) {
      unhex(argv[2], b1, 32);
      int r = lwm2m_se_sign(&h.se, atoi(argv[1]), b1, out);
      printf("%d", r); hexout(out, r == 0 ? 64 : 0); putchar('\n');
    } else if (!strcmp(c, "se-verify") && argc == 4) {
      size_t np = unhex(argv[1], b1, sizeof b1);
      unhex(argv[2], b2, 32);
      unhex(argv[3], b3, 64);
      printf("%d\n", lwm2m_se_verify(&h.se, b1, np, b2, b3));
    } else if (!strcmp(c, "se-ecdh") && argc == 3) {
      size_t np = unhex(argv[2], b1, sizeof b1);
      int r = lwm2m_se_ecdh(&h.se, atoi(argv[1]), b1, np, out);
      printf("%d", r); hexout(out, r == 0 ? 32 : 0); putchar('\n');
    } else if (!strcmp(c, "se-destroy") && argc == 2) {
      printf("%d\n", lwm2m_se_destroy(&h.se, atoi(argv[1])));
    } else if (!strcmp(c, "se-seal") && argc == 3) {
      size_t n = unhex(argv[1], b1, sizeof b1), na = unhex(argv[2], b2, sizeof b2);
      int r = lwm2m_se_seal(&h.se, b1, n, b2, na, out);
      printf("%d", r); hexout(out, r > 0 ? (size_t)r : 0); putchar('\n');
    } else if (!strcmp(c, "se-open") && argc == 3) {
      size_t n = unhex(argv[1], b1, sizeof b1), na = unhex(argv[2], b2, sizeof b2);
      int r = lwm2m_se_open(&h.se, b1, n, b2, na, out);
      printf("%d", r); hexout(out, r > 0 ? (size_t)r : 0); putchar('\n');
    } else if (!strcmp(c, "se-counter") && argc == 2) {
      printf("%lld\n", (long long)lwm2m_se_counter(&h.se, atoi(argv[1])));
    } else if (!strcmp(c, "abi") && argc >= 3) {
      abi(argc, argv);
    } else {
      printf("error: unknown command %s\n", c);
    }
  }
  return 0;
}

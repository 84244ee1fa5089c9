/* Host ABI v1 imports (host-shim/ABI.md), independent of the runtime: every
 * pointer + length is checked against the memory size at the moment of the
 * call (64-bit arithmetic, so ptr + len cannot wrap); a bad one returns
 * Invalid and touches nothing. Inputs are copied out of linear memory before
 * use and outputs written only on success, as host-shim/node/host.ts does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mbedtls/platform_util.h>
#include "lwm2m_host.h"

static uint8_t *view(lwm2m_host *h, lwm2m_mem m, uint32_t ptr, uint32_t len) {
  if ((uint64_t)ptr + (uint64_t)len > m.size || m.base == NULL) { h->abi_invalid++; return NULL; }
  return m.base + ptr;
}

int64_t lwm2m_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int32_t lwm2m_abi_net_open(lwm2m_host *h, lwm2m_mem m, uint32_t host, uint32_t host_len, uint32_t port) {
  uint8_t *v = view(h, m, host, host_len);
  if (!v || host_len == 0 || host_len > 255) return LWM2M_INVALID;
  char name[256];
  memcpy(name, v, host_len);
  name[host_len] = 0;
  if (strlen(name) != host_len) return LWM2M_INVALID; /* an embedded NUL */
  return lwm2m_net_open(&h->net, name, (int32_t)port);
}

void lwm2m_abi_net_close(lwm2m_host *h, lwm2m_mem m, uint32_t peer) { (void)m; lwm2m_net_close(&h->net, (int32_t)peer); }

int32_t lwm2m_abi_net_send(lwm2m_host *h, lwm2m_mem m, uint32_t peer, uint32_t ptr, uint32_t len) {
  uint8_t *v = view(h, m, ptr, len);
  return v ? lwm2m_net_send(&h->net, (int32_t)peer, v, len) : LWM2M_INVALID;
}

int64_t lwm2m_abi_clock_monotonic_ms(lwm2m_host *h, lwm2m_mem m) { (void)h; (void)m; return lwm2m_monotonic_ms(); }
int64_t lwm2m_abi_clock_wall_seconds(lwm2m_host *h, lwm2m_mem m) { (void)h; (void)m; return (int64_t)time(NULL); }

int32_t lwm2m_abi_rng_fill(lwm2m_host *h, lwm2m_mem m, uint32_t ptr, uint32_t len) {
  uint8_t *v = view(h, m, ptr, len);
  return v ? lwm2m_rng_fill(&h->rng, v, len) : LWM2M_INVALID;
}

int32_t lwm2m_abi_se_generate_p256(lwm2m_host *h, lwm2m_mem m, uint32_t slot, uint32_t pub_out) {
  uint8_t *o = view(h, m, pub_out, P256_PUB_LEN), pub[P256_PUB_LEN];
  if (!o) return LWM2M_INVALID;
  int st = lwm2m_se_generate(&h->se, &h->rng, (int32_t)slot, pub);
  if (st == LWM2M_OK) memcpy(o, pub, sizeof pub);
  return st;
}

int32_t lwm2m_abi_se_import_p256(lwm2m_host *h, lwm2m_mem m, uint32_t slot, uint32_t priv, uint32_t priv_len, uint32_t pub_out) {
  uint8_t *k = view(h, m, priv, priv_len), *o = view(h, m, pub_out, P256_PUB_LEN), pub[P256_PUB_LEN], copy[P256_PRIV_LEN];
  if (!k || !o) return LWM2M_INVALID;
  if (priv_len != P256_PRIV_LEN) return LWM2M_INVALID;
  memcpy(copy, k, sizeof copy);
  int st = lwm2m_se_import(&h->se, (int32_t)slot, copy, sizeof copy, pub);
  mbedtls_platform_zeroize(copy, sizeof copy); /* the SE keeps its own copy; the firmware wipes its buffer (SEC-3) */
  if (st == LWM2M_OK) memcpy(o, pub, sizeof pub);
  return st;
}

int32_t lwm2m_abi_se_public_key(lwm2m_host *h, lwm2m_mem m, uint32_t slot, uint32_t pub_out) {
  uint8_t *o = view(h, m, pub_out, P256_PUB_LEN), pub[P256_PUB_LEN];
  if (!o) return LWM2M_INVALID;
  int st = lwm2m_se_public_key(&h->se, (int32_t)slot, pub);
  if (st == LWM2M_OK) memcpy(o, pub, sizeof pub);
  return st;
}

int32_t lwm2m_abi_se_sign_digest(lwm2m_host *h, lwm2m_mem m, uint32_t slot, uint32_t digest, uint32_t sig_out) {
  uint8_t *d = view(h, m, digest, 32), *o = view(h, m, sig_out, P256_SIG_LEN), dg[32], sig[P256_SIG_LEN];
  if (!d || !o) return LWM2M_INVALID;
  memcpy(dg, d, 32);
  int st = lwm2m_se_sign(&h->se, (int32_t)slot, dg, sig);
  if (st == LWM2M_OK) memcpy(o, sig, sizeof sig);
  return st;
}

int32_t lwm2m_abi_se_ecdh(lwm2m_host *h, lwm2m_mem m, uint32_t slot, uint32_t peer, uint32_t peer_len, uint32_t out) {
  uint8_t *p = view(h, m, peer, peer_len), *o = view(h, m, out, P256_SECRET_LEN), pt[P256_PUB_LEN], z[P256_SECRET_LEN];
  if (!p || !o || peer_len != P256_PUB_LEN) return LWM2M_INVALID;
  memcpy(pt, p, sizeof pt);
  int st = lwm2m_se_ecdh(&h->se, (int32_t)slot, pt, sizeof pt, z);
  if (st == LWM2M_OK) memcpy(o, z, sizeof z);
  mbedtls_platform_zeroize(z, sizeof z);
  return st;
}

int32_t lwm2m_abi_se_verify_digest(lwm2m_host *h, lwm2m_mem m, uint32_t pub, uint32_t pub_len, uint32_t digest, uint32_t sig) {
  uint8_t *p = view(h, m, pub, pub_len), *d = view(h, m, digest, 32), *s = view(h, m, sig, P256_SIG_LEN);
  uint8_t pk[P256_PUB_LEN], dg[32], sg[P256_SIG_LEN];
  if (!p || !d || !s) return LWM2M_INVALID;
  if (pub_len != P256_PUB_LEN) return LWM2M_BAD_SIGNATURE; /* malformed key: not a valid signature (as se.ts) */
  memcpy(pk, p, sizeof pk); memcpy(dg, d, 32); memcpy(sg, s, sizeof sg);
  return lwm2m_se_verify(&h->se, pk, sizeof pk, dg, sg);
}

int32_t lwm2m_abi_se_destroy(lwm2m_host *h, lwm2m_mem m, uint32_t slot) { (void)m; return lwm2m_se_destroy(&h->se, (int32_t)slot); }

int32_t lwm2m_abi_se_seal(lwm2m_host *h, lwm2m_mem m, uint32_t in, uint32_t in_len, uint32_t aad, uint32_t aad_len, uint32_t out, uint32_t out_cap) {
  uint8_t *i = view(h, m, in, in_len), *a = view(h, m, aad, aad_len), *o = view(h, m, out, out_cap);
  if (!i || !a || !o) return LWM2M_INVALID;
  if ((uint64_t)in_len + SE_SEAL_OVERHEAD > out_cap) return LWM2M_TOO_SMALL;
  /* copies: input, aad and output may overlap in linear memory */
  uint8_t *buf = malloc((size_t)in_len + aad_len + in_len + SE_SEAL_OVERHEAD + 1);
  if (!buf) return LWM2M_IO;
  memcpy(buf, i, in_len);
  memcpy(buf + in_len, a, aad_len);
  int32_t r = lwm2m_se_seal(&h->se, buf, in_len, buf + in_len, aad_len, buf + in_len + aad_len);
  if (r > 0) memcpy(o, buf + in_len + aad_len, (size_t)r);
  mbedtls_platform_zeroize(buf, (size_t)in_len + aad_len + in_len + SE_SEAL_OVERHEAD);
  free(buf);
  return r;
}

int32_t lwm2m_abi_se_open(lwm2m_host *h, lwm2m_mem m, uint32_t in, uint32_t in_len, uint32_t aad, uint32_t aad_len, uint32_t out, uint32_t out_cap) {
  uint8_t *i = view(h, m, in, in_len), *a = view(h, m, aad, aad_len), *o = view(h, m, out, out_cap);
  if (!i || !a || !o) return LWM2M_INVALID;
  if (in_len < SE_SEAL_OVERHEAD) return LWM2M_AUTH_FAILED;
  uint8_t *buf = malloc((size_t)in_len * 2 + aad_len + 1);
  if (!buf) return LWM2M_IO;
  memcpy(buf, i, in_len);
  memcpy(buf + in_len, a, aad_len);
  uint8_t *plain = buf + in_len + aad_len;
  int32_t r = lwm2m_se_open(&h->se, buf, in_len, buf + in_len, aad_len, plain);
  if (r >= 0 && (uint32_t)r > out_cap) r = LWM2M_TOO_SMALL;
  else if (r >= 0) memcpy(o, plain, (size_t)r);
  mbedtls_platform_zeroize(buf, (size_t)in_len * 2 + aad_len);
  free(buf);
  return r;
}

int64_t lwm2m_abi_se_counter(lwm2m_host *h, lwm2m_mem m, uint32_t increment) { (void)m; return lwm2m_se_counter(&h->se, increment != 0); }
int32_t lwm2m_abi_flash_size(lwm2m_host *h, lwm2m_mem m) { (void)m; return (int32_t)h->flash.size; }
int32_t lwm2m_abi_flash_sector_size(lwm2m_host *h, lwm2m_mem m) { (void)m; return (int32_t)h->flash.sector_size; }

int32_t lwm2m_abi_flash_read(lwm2m_host *h, lwm2m_mem m, uint32_t addr, uint32_t ptr, uint32_t len) {
  uint8_t *o = view(h, m, ptr, len);
  return o ? lwm2m_flash_read(&h->flash, addr, o, len) : LWM2M_INVALID;
}

int32_t lwm2m_abi_flash_program(lwm2m_host *h, lwm2m_mem m, uint32_t addr, uint32_t ptr, uint32_t len) {
  uint8_t *v = view(h, m, ptr, len);
  return v ? lwm2m_flash_program(&h->flash, addr, v, len) : LWM2M_INVALID;
}

int32_t lwm2m_abi_flash_erase_sector(lwm2m_host *h, lwm2m_mem m, uint32_t addr) { (void)m; return lwm2m_flash_erase(&h->flash, addr); }

static const char *const LEVELS[] = { "error", "warn", "info", "debug" };

int lwm2m_log_dictionary_load(lwm2m_host *h, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); return -1; }
  uint8_t *b = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap && !(b = realloc(b, cap = cap ? 2 * cap : 8192))) { fclose(f); return -1; }
    size_t r = fread(b + n, 1, cap - n, f);
    if (r == 0) break;
    n += r;
  }
  fclose(f);
  if (n < 39 || memcmp(b, "LWLD", 4) != 0 || b[4] != 1) { fprintf(stderr, "%s: not a log dictionary (version 1)\n", path); free(b); return -1; }
  uint16_t count = (uint16_t)(b[37] << 8 | b[38]);
  const uint8_t **text = calloc(count ? count : 1, sizeof *text);
  size_t at = 39;
  for (uint16_t i = 0; text && i < count; i++) {
    if (at >= n || at + 1 + b[at] > n) { fprintf(stderr, "%s: truncated at text %u\n", path, (unsigned)i); free(text); text = NULL; break; }
    text[i] = b + at;
    at += 1 + (size_t)b[at];
  }
  if (!text) { free(b); return -1; }
  h->logdict = b;
  h->logdict_text = text;
  h->logdict_count = count;
  return 0;
}

size_t lwm2m_log_decode(const lwm2m_host *h, const uint8_t *v, size_t n, char *out, size_t cap) {
  size_t o = 0;
  if (cap == 0) return 0;
  for (size_t i = 0; i < n && o + 1 < cap; i++) {
    if (v[i] < 0x80) { out[o++] = (char)v[i]; continue; }
    if (i + 1 >= n) { o += (size_t)snprintf(out + o, cap - o, "<#?>"); break; }
    unsigned id = (unsigned)(v[i] & 0x7f) << 8 | v[i + 1];
    i++;
    if (id < h->logdict_count) {
      size_t t = h->logdict_text[id][0];
      if (t > cap - 1 - o) t = cap - 1 - o;
      memcpy(out + o, h->logdict_text[id] + 1, t);
      o += t;
    } else {
      o += (size_t)snprintf(out + o, cap - o, "<#%u>", id);
    }
  }
  if (o >= cap) o = cap - 1;
  out[o] = 0;
  return o;
}

void lwm2m_abi_log_write(lwm2m_host *h, lwm2m_mem m, uint32_t level, uint32_t ptr, uint32_t len) {
  uint8_t *v = view(h, m, ptr, len);
  if (!v || (int)level > h->log_level_max) return;
  char tag[16];
  if (level < 4) snprintf(tag, sizeof tag, "[%s]", LEVELS[level]); else snprintf(tag, sizeof tag, "[%u]", level);
  char line[2048];
  lwm2m_log_decode(h, v, len, line, sizeof line);
  printf("%-8s %s\n", tag, line);
}

void lwm2m_abi_fatal(lwm2m_host *h, lwm2m_mem m, uint32_t code, uint32_t line) {
  (void)m;
  h->fatal = 1;
  h->fatal_code = (int)code;
  h->fatal_line = (int)line;
}

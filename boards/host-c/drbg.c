/* The device RNG behind rng_fill, as host-shim/node/drbg.ts + entropy.ts:
 * Mbed TLS HMAC_DRBG (SHA-256, SP 800-90A §10.1.2) instantiated and reseeded
 * from an entropy source whose every sample passes the SP 800-90B §4.4
 * repetition-count and adaptive-proportion tests (after §4.3 start-up tests
 * over 1024 samples). At H = 1 bit per sample: entropy input = 256 samples,
 * nonce = 128 samples (§8.6.7). A failure enters the error state (§11.3):
 * the state is wiped and every fill returns RngHealth. */
#include <string.h>
#include <errno.h>
#include <sys/random.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include "lwm2m_host.h"

#define SECURITY_STRENGTH 256
#define PERSONALIZATION "lwm2m-wasm DeviceRng v1"

int lwm2m_os_random(void *unused, unsigned char *out, size_t len) {
  (void)unused;
  while (len > 0) {
    ssize_t n = getrandom(out, len, 0);
    if (n < 0) { if (errno == EINTR) continue; return -1; }
    out += n; len -= (size_t)n;
  }
  return 0;
}

static int os_read(void *ctx, uint8_t *out, size_t n) { (void)ctx; return lwm2m_os_random(NULL, out, n); }
lwm2m_entropy_source lwm2m_entropy_os(void) { lwm2m_entropy_source s = { os_read, NULL }; return s; }

static int stuck_read(void *ctx, uint8_t *out, size_t n) { memset(out, *(uint8_t *)ctx, n); return 0; }
lwm2m_entropy_source lwm2m_entropy_stuck(uint8_t *value) { lwm2m_entropy_source s = { stuck_read, value }; return s; }

/* Both continuous tests over the samples (§4.4.1 RCT, §4.4.2 APT); sticky failure. */
static int health_feed(lwm2m_rng *r, const uint8_t *s, size_t n) {
  if (r->failure) return 0;
  for (size_t i = 0; i < n; i++) {
    int x = s[i];
    if (x == r->rct_a) {
      if (++r->rct_b >= RCT_CUTOFF) { r->failure = HEALTH_RCT; return 0; }
    } else { r->rct_a = x; r->rct_b = 1; }
    if (r->apt_i == 0) { r->apt_a = x; r->apt_b = 1; }
    else if (x == r->apt_a) {
      if (++r->apt_b >= APT_CUTOFF) { r->failure = HEALTH_APT; return 0; }
    }
    if (++r->apt_i == APT_WINDOW) r->apt_i = 0;
  }
  return 1;
}

/* n health-tested samples into out, or -1 (start-up not passed, a test failed, or the source failed). */
static int entropy_read(lwm2m_rng *r, uint8_t *out, size_t n) {
  if (!r->started) {
    uint8_t s[STARTUP_SAMPLES];
    r->started = 1;
    int ok = r->source.read(r->source.ctx, s, sizeof s) == 0 && health_feed(r, s, sizeof s);
    mbedtls_platform_zeroize(s, sizeof s);
    if (!ok && !r->failure) r->failure = HEALTH_SOURCE;
  }
  if (r->failure) return -1;
  if (r->source.read(r->source.ctx, out, n) != 0) { r->failure = HEALTH_SOURCE; mbedtls_platform_zeroize(out, n); return -1; }
  if (!health_feed(r, out, n)) { mbedtls_platform_zeroize(out, n); return -1; }
  return 0;
}

int lwm2m_hmac_drbg_instantiate(mbedtls_hmac_drbg_context *c, const uint8_t *entropy, size_t elen,
                                const uint8_t *nonce, size_t nlen, const uint8_t *pers, size_t plen) {
  uint8_t seed[512];
  if (elen + nlen + plen > sizeof seed) return -1;
  memcpy(seed, entropy, elen);
  if (nlen) memcpy(seed + elen, nonce, nlen);
  if (plen) memcpy(seed + elen + nlen, pers, plen);
  /* seed_buf: K = 0x00.., V = 0x01.., HMAC_DRBG_Update(seed_material) — §10.1.2.3 steps 2-5 */
  int ret = mbedtls_hmac_drbg_seed_buf(c, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), seed, elen + nlen + plen);
  mbedtls_platform_zeroize(seed, sizeof seed);
  return ret == 0 ? 0 : -1;
}

int lwm2m_rng_init(lwm2m_rng *r, lwm2m_entropy_source src, uint64_t reseed_interval) {
  memset(r, 0, sizeof *r);
  r->source = src;
  r->rct_a = r->apt_a = -1;
  r->error = 1;
  r->reseed_interval = reseed_interval ? reseed_interval : 10000;
  mbedtls_hmac_drbg_init(&r->drbg);
  uint8_t entropy[SECURITY_STRENGTH], nonce[SECURITY_STRENGTH / 2]; /* samples at H = 1 */
  int ok = entropy_read(r, entropy, sizeof entropy) == 0 && entropy_read(r, nonce, sizeof nonce) == 0
    && lwm2m_hmac_drbg_instantiate(&r->drbg, entropy, sizeof entropy, nonce, sizeof nonce,
                                   (const uint8_t *)PERSONALIZATION, strlen(PERSONALIZATION)) == 0;
  mbedtls_platform_zeroize(entropy, sizeof entropy);
  mbedtls_platform_zeroize(nonce, sizeof nonce);
  if (!ok) return LWM2M_RNG_HEALTH;
  r->reseed_counter = 1;
  r->error = 0;
  return LWM2M_OK;
}

static void enter_error(lwm2m_rng *r) {
  mbedtls_hmac_drbg_free(&r->drbg); /* wipes K and V */
  mbedtls_hmac_drbg_init(&r->drbg);
  r->error = 1;
}

int lwm2m_rng_fill(lwm2m_rng *r, uint8_t *out, size_t len) {
  if (r->error) { memset(out, 0, len); return LWM2M_RNG_HEALTH; }
  while (len > 0) {
    if (r->reseed_counter > r->reseed_interval) { /* §9.3.1 step 7: HMAC_DRBG_Reseed (§10.1.2.4) */
      uint8_t e[SECURITY_STRENGTH];
      int ok = entropy_read(r, e, sizeof e) == 0 && mbedtls_hmac_drbg_update_ret(&r->drbg, e, sizeof e) == 0;
      mbedtls_platform_zeroize(e, sizeof e);
      if (!ok) { enter_error(r); memset(out, 0, len); return LWM2M_RNG_HEALTH; }
      r->reseed_counter = 1;
      r->reseeds++;
    }
    size_t n = len < MBEDTLS_HMAC_DRBG_MAX_REQUEST ? len : MBEDTLS_HMAC_DRBG_MAX_REQUEST;
    if (mbedtls_hmac_drbg_random_with_add(&r->drbg, out, n, NULL, 0) != 0) { enter_error(r); return LWM2M_RNG_HEALTH; }
    r->reseed_counter++;
    out += n; len -= n;
  }
  return LWM2M_OK;
}

void lwm2m_rng_free(lwm2m_rng *r) { mbedtls_hmac_drbg_free(&r->drbg); r->error = 1; }

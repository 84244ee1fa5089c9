/* The C host of lwm2m-wasm: host ABI v1 (host-shim/ABI.md) on POSIX and
 * Mbed TLS 2.28, independent of the WebAssembly runtime. A runtime binding
 * (boards/wasm2c, boards/wamr) gives the host a view of linear memory and a
 * way to call the firmware's exports (lwm2m_fw); the host gives the binding
 * one function per import (lwm2m_abi_*), each bounds-checking every pointer
 * and length against the current memory size: a bad one is answered with
 * LWM2M_INVALID, never a trap or an access outside linear memory.
 *
 * Services mirror the Node host (host-shim/node): the SE (se.c, Mbed TLS
 * P-256 + AES-256-GCM, key store and sealed-record format shared with
 * se.ts), the device RNG (drbg.c, HMAC_DRBG over SP 800-90B health-tested
 * getrandom, as drbg.ts/entropy.ts), the NOR flash file (flash.c, as
 * flash.ts, with power-cut injection) and UDP (net.c). */
#ifndef LWM2M_HOST_H
#define LWM2M_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <mbedtls/ecp.h>
#include <mbedtls/hmac_drbg.h>

/* HostStatus (assembly/host/abi.ts) */
enum {
  LWM2M_OK = 0, LWM2M_INVALID = -1, LWM2M_NOKEY = -2, LWM2M_RNG_HEALTH = -3, LWM2M_BAD_SIGNATURE = -4,
  LWM2M_AUTH_FAILED = -5, LWM2M_IO = -6, LWM2M_TOO_SMALL = -7, LWM2M_NOT_PERMITTED = -8,
};
#define LWM2M_ABI_VERSION 1
#define P256_PUB_LEN 65
#define P256_PRIV_LEN 32
#define P256_SIG_LEN 64
#define P256_SECRET_LEN 32
#define SE_SLOT_COUNT 16
#define SE_VOLATILE_FIRST 8 /* slots 8-15 live in RAM only (ABI v1) */
#define SE_SEAL_OVERHEAD 28 /* nonce(12) || ciphertext || tag(16) */

/* ---- entropy + DRBG (drbg.c) ------------------------------------------- */
/* SP 800-90B §4.4 continuous health tests at H = 1 bit per 8-bit sample, alpha = 2^-20. */
#define RCT_CUTOFF 21    /* 1 + ceil(20 / H) (§4.4.1) */
#define APT_WINDOW 512   /* non-binary sources (§4.4.2) */
#define APT_CUTOFF 311   /* §4.4.2 Table 2, W = 512, H = 1 */
#define STARTUP_SAMPLES 1024 /* §4.3 */
enum { HEALTH_OK = 0, HEALTH_RCT = 1, HEALTH_APT = 2, HEALTH_SOURCE = 3 };

typedef struct {
  /* raw noise source: fills n samples, returns 0 or -1 */
  int (*read)(void *ctx, uint8_t *out, size_t n);
  void *ctx;
} lwm2m_entropy_source;

typedef struct {
  lwm2m_entropy_source source;
  int failure, started;
  int rct_a, rct_b, apt_a, apt_b, apt_i;
  mbedtls_hmac_drbg_context drbg;
  int error; /* §9.3 / §11.3 error state: fill returns RngHealth */
  uint64_t reseed_counter, reseed_interval, reseeds;
} lwm2m_rng;

int lwm2m_rng_init(lwm2m_rng *r, lwm2m_entropy_source src, uint64_t reseed_interval);
int lwm2m_rng_fill(lwm2m_rng *r, uint8_t *out, size_t len);
void lwm2m_rng_free(lwm2m_rng *r);
/* the OS source (getrandom) and a stuck one (tests: the health tests must trip) */
lwm2m_entropy_source lwm2m_entropy_os(void);
lwm2m_entropy_source lwm2m_entropy_stuck(uint8_t *value);
/* HMAC_DRBG (SHA-256) instantiate per SP 800-90A §10.1.2.3: seed = entropy || nonce || personalization */
int lwm2m_hmac_drbg_instantiate(mbedtls_hmac_drbg_context *c, const uint8_t *entropy, size_t elen,
                                const uint8_t *nonce, size_t nlen, const uint8_t *pers, size_t plen);
/* fills from getrandom(2) (SE nonces, blinding) */
int lwm2m_os_random(void *unused, unsigned char *out, size_t len);

/* ---- secure element (se.c) ---------------------------------------------- */
typedef struct {
  char store_path[1024], counter_path[1024]; /* empty: in memory */
  uint8_t device_key[32];
  uint64_t counter;
  uint8_t used[SE_SLOT_COUNT];
  uint8_t priv[SE_SLOT_COUNT][P256_PRIV_LEN];
  mbedtls_ecp_group grp;
} lwm2m_se;

/* state_dir NULL: in memory. Loads or creates se-keystore.json (the Node host's format) and se-counter. 0 or -1. */
int lwm2m_se_init(lwm2m_se *se, const char *state_dir);
void lwm2m_se_free(lwm2m_se *se);
int lwm2m_se_generate(lwm2m_se *se, lwm2m_rng *rng, int32_t slot, uint8_t pub[P256_PUB_LEN]);
int lwm2m_se_import(lwm2m_se *se, int32_t slot, const uint8_t *priv, size_t len, uint8_t pub[P256_PUB_LEN]);
int lwm2m_se_public_key(lwm2m_se *se, int32_t slot, uint8_t pub[P256_PUB_LEN]);
int lwm2m_se_sign(lwm2m_se *se, int32_t slot, const uint8_t digest[32], uint8_t sig[P256_SIG_LEN]);
int lwm2m_se_ecdh(lwm2m_se *se, int32_t slot, const uint8_t *peer, size_t len, uint8_t out[P256_SECRET_LEN]);
/* LWM2M_OK or LWM2M_BAD_SIGNATURE (also for malformed input) */
int lwm2m_se_verify(lwm2m_se *se, const uint8_t *pub, size_t pub_len, const uint8_t digest[32], const uint8_t sig[P256_SIG_LEN]);
int lwm2m_se_destroy(lwm2m_se *se, int32_t slot);
/* out must hold in_len + 28; returns the length or a status */
int32_t lwm2m_se_seal(lwm2m_se *se, const uint8_t *in, size_t in_len, const uint8_t *aad, size_t aad_len, uint8_t *out);
/* out must hold in_len - 28; returns the plaintext length or AuthFailed */
int32_t lwm2m_se_open(lwm2m_se *se, const uint8_t *in, size_t in_len, const uint8_t *aad, size_t aad_len, uint8_t *out);
int64_t lwm2m_se_counter(lwm2m_se *se, int increment);

/* ---- NOR flash (flash.c) ------------------------------------------------ */
typedef struct {
  uint32_t size, sector_size;
  uint8_t *image;
  int fd; /* -1: in memory */
  uint32_t cut_countdown; /* 0: no cut armed */
  int lost;
  uint64_t rand_state;
  uint64_t reads, programs, erases, bytes_programmed;
  const char *lost_kind;
  uint32_t lost_addr;
} lwm2m_flash;

int lwm2m_flash_init(lwm2m_flash *f, const char *path, uint32_t size, uint32_t sector_size);
void lwm2m_flash_free(lwm2m_flash *f);
/* The n-th subsequent program/erase (n >= 1) is torn; then every operation fails with Io. */
void lwm2m_flash_cut_power_after(lwm2m_flash *f, uint32_t n, uint64_t seed);
int lwm2m_flash_read(lwm2m_flash *f, uint32_t addr, uint8_t *out, uint32_t len);
int lwm2m_flash_program(lwm2m_flash *f, uint32_t addr, const uint8_t *data, uint32_t len);
int lwm2m_flash_erase(lwm2m_flash *f, uint32_t addr);

/* ---- UDP (net.c) -------------------------------------------------------- */
#define NET_MAX_PEERS 8
typedef struct {
  int fd[NET_MAX_PEERS]; /* -1 free */
  uint8_t used[NET_MAX_PEERS], failed[NET_MAX_PEERS];
  uint64_t sent_bytes, sent_datagrams, received_bytes, received_datagrams, dropped_oversize;
} lwm2m_net;

void lwm2m_net_init(lwm2m_net *n);
int32_t lwm2m_net_open(lwm2m_net *n, const char *host, int32_t port);
int32_t lwm2m_net_send(lwm2m_net *n, int32_t peer, const uint8_t *data, size_t len);
void lwm2m_net_close(lwm2m_net *n, int32_t peer);
void lwm2m_net_close_all(lwm2m_net *n);

/* ---- the host ------------------------------------------------------------ */
typedef struct lwm2m_host {
  lwm2m_rng rng;
  lwm2m_se se;
  lwm2m_flash flash;
  lwm2m_net net;
  int log_level_max; /* lines above this level are not printed */
  int fatal_code, fatal_line, fatal; /* set by the fatal import */
  uint64_t abi_invalid; /* imports answered Invalid (bad pointer/length) */
  /* the firmware's log dictionary (scripts/log-dictionary.mjs): texts by token, none loaded = count 0 */
  uint8_t *logdict;
  const uint8_t **logdict_text;
  uint16_t logdict_count;
} lwm2m_host;

/* Loads `<module>.logdict` (version 1); 0, or -1 with the reason on stderr. The module hash in
 * the file is not checked here (a wasm2c build has no module bytes at run time). */
int lwm2m_log_dictionary_load(lwm2m_host *h, const char *path);
/* A log line or event text as a C string in out[cap]: ASCII as is, a token (byte 0x80-0xFF and
 * the next) as its text, or "<#id>" without a dictionary (decoded later with the .logdict file). */
size_t lwm2m_log_decode(const lwm2m_host *h, const uint8_t *v, size_t n, char *out, size_t cap);

int64_t lwm2m_monotonic_ms(void);

/* Linear memory as the binding sees it at the moment of the call. */
typedef struct { uint8_t *base; uint64_t size; } lwm2m_mem;

/* The imports of module lwm2m_v1; i32 arguments arrive as uint32_t bit patterns. */
int32_t lwm2m_abi_net_open(lwm2m_host *h, lwm2m_mem m, uint32_t host, uint32_t host_len, uint32_t port);
void lwm2m_abi_net_close(lwm2m_host *h, lwm2m_mem m, uint32_t peer);
int32_t lwm2m_abi_net_send(lwm2m_host *h, lwm2m_mem m, uint32_t peer, uint32_t ptr, uint32_t len);
int64_t lwm2m_abi_clock_monotonic_ms(lwm2m_host *h, lwm2m_mem m);
int64_t lwm2m_abi_clock_wall_seconds(lwm2m_host *h, lwm2m_mem m);
int32_t lwm2m_abi_rng_fill(lwm2m_host *h, lwm2m_mem m, uint32_t ptr, uint32_t len);
int32_t lwm2m_abi_se_generate_p256(lwm2m_host *h, lwm2m_mem m, uint32_t slot, uint32_t pub_out);
int32_t lwm2m_abi_se_import_p256(lwm2m_host *h, lwm2m_mem m, uint32_t slot, uint32_t priv, uint32_t priv_len, uint32_t pub_out);
int32_t lwm2m_abi_se_public_key(lwm2m_host *h, lwm2m_mem m, uint32_t slot, uint32_t pub_out);
int32_t lwm2m_abi_se_sign_digest(lwm2m_host *h, lwm2m_mem m, uint32_t slot, uint32_t digest, uint32_t sig_out);
int32_t lwm2m_abi_se_ecdh(lwm2m_host *h, lwm2m_mem m, uint32_t slot, uint32_t peer, uint32_t peer_len, uint32_t out);
int32_t lwm2m_abi_se_verify_digest(lwm2m_host *h, lwm2m_mem m, uint32_t pub, uint32_t pub_len, uint32_t digest, uint32_t sig);
int32_t lwm2m_abi_se_destroy(lwm2m_host *h, lwm2m_mem m, uint32_t slot);
int32_t lwm2m_abi_se_seal(lwm2m_host *h, lwm2m_mem m, uint32_t in, uint32_t in_len, uint32_t aad, uint32_t aad_len, uint32_t out, uint32_t out_cap);
int32_t lwm2m_abi_se_open(lwm2m_host *h, lwm2m_mem m, uint32_t in, uint32_t in_len, uint32_t aad, uint32_t aad_len, uint32_t out, uint32_t out_cap);
int64_t lwm2m_abi_se_counter(lwm2m_host *h, lwm2m_mem m, uint32_t increment);
int32_t lwm2m_abi_flash_size(lwm2m_host *h, lwm2m_mem m);
int32_t lwm2m_abi_flash_sector_size(lwm2m_host *h, lwm2m_mem m);
int32_t lwm2m_abi_flash_read(lwm2m_host *h, lwm2m_mem m, uint32_t addr, uint32_t ptr, uint32_t len);
int32_t lwm2m_abi_flash_program(lwm2m_host *h, lwm2m_mem m, uint32_t addr, uint32_t ptr, uint32_t len);
int32_t lwm2m_abi_flash_erase_sector(lwm2m_host *h, lwm2m_mem m, uint32_t addr);
void lwm2m_abi_log_write(lwm2m_host *h, lwm2m_mem m, uint32_t level, uint32_t ptr, uint32_t len);
void lwm2m_abi_fatal(lwm2m_host *h, lwm2m_mem m, uint32_t code, uint32_t line);

/* ---- the firmware, as a runtime binding presents it ---------------------- */
typedef enum {
  FW_INITIALIZE, FW_ABI_VERSION, FW_RX_BUFFER, FW_RX_CAPACITY, FW_INIT, FW_DATAGRAM_RECEIVED, FW_TIMER_FIRED,
  FW_BOOT_STATUS, FW_POLL, FW_SHUTDOWN, FW_CONFIG_BUFFER, FW_CONFIG_CAPACITY, FW_PROVISION_BEGIN,
  FW_PROVISION_WRITE, FW_PROVISION_FINISH, FW_PROVISION_ABORT, FW_PROVISIONED, FW_CONFIG_ERROR, FW_HOST_REQUEST,
  FW_EVENT_NEXT, FW_EVENT_SSID, FW_EVENT_ARG, FW_EVENT_TEXT, FW_EVENT_TEXT_LEN, FW_CLIENT_STATE,
  FW_EXPORT_COUNT
} lwm2m_export;
/* name and signature of each export: parameters then ':' and the result (i = i32, I = i64, v = none) */
extern const char *const lwm2m_export_names[FW_EXPORT_COUNT];
extern const char *const lwm2m_export_sigs[FW_EXPORT_COUNT];

typedef struct lwm2m_fw lwm2m_fw;
struct lwm2m_fw {
  const char *runtime; /* "wasm2c", "wamr classic", ... */
  /* (Re)instantiate the module (after a Reboot / Factory Reset: a fresh instance); 0 or -1 */
  int (*instantiate)(lwm2m_fw *fw);
  /* Call an export; 0 with *ret set (i32 results sign-extended), or -1 when the call trapped. */
  int (*call)(lwm2m_fw *fw, lwm2m_export e, const int64_t *args, int64_t *ret);
  lwm2m_mem (*memory)(lwm2m_fw *fw);
  void *ctx;
};

/* The device command line and loop (device.c): `device`/`boot` as lwm2m-wasm's. */
int lwm2m_main(lwm2m_host *h, lwm2m_fw *fw, int argc, char **argv);

#endif

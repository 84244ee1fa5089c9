/* Emulated board: the wasm2c firmware on a Cortex-M4 (qemu-system-arm -M
 * mps2-an386, output by semihosting), booted once: DRBG health, SE
 * self-test, flash format and mount; then it reports the instructions the
 * boot took and the stack high-water mark.
 *
 * What is real and what is not, said plainly:
 *  - DRBG: HMAC_DRBG (SHA-256, SP 800-90A) with the SP 800-90B start-up,
 *    repetition-count and adaptive-proportion tests, as boards/host-c. The
 *    MPS2 has no noise source: the "entropy" is xorshift64 from a constant,
 *    NOT random. It exercises the code path only.
 *  - SE: a STUB. No P-256 on this board (Debian ships no Mbed TLS for
 *    Cortex-M): key generation, signing and ECDH answer Invalid, so the SE
 *    self-test fails and says so. Sealing is integrity-only (HMAC-SHA-256
 *    tag, no encryption) so that the sealed store can format and mount.
 *  - Flash: 64 KiB / 4 KiB NOR in RAM with the host's semantics.
 *  - Time: SysTick on the 25 MHz CPU clock; under `-icount shift=0` QEMU
 *    runs one instruction per virtual ns, so 1 tick = 40 instructions.
 *  - Network (`dtls` mode): none on the board. Datagrams the firmware sends
 *    go to a host file by semihosting; the server's answers come from a
 *    file recorded against the development servers (test/boards-emulated:
 *    run, send the new client datagram to the real server, record its
 *    answers, run again until the device is registered). The board is
 *    deterministic (fixed entropy, -icount), so each run repeats the
 *    previous one's datagrams byte for byte.
 * Pointer/length checks as in boards/host-c/abi.c. A trap (udf) ends in
 * HardFault_Handler, which reports it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "firmware.h"
#include "provision.h"

#define OK 0
#define INVALID (-1)
#define NOKEY (-2)
#define RNG_HEALTH (-3)
#define AUTH_FAILED (-5)
#define TOO_SMALL (-7)
#define NOT_PERMITTED (-8)

extern unsigned char lwm2m_linear_memory[65536];
#define MEM_SIZE 65536u
static uint8_t *view(uint32_t ptr, uint32_t len) {
  return (uint64_t)ptr + len > MEM_SIZE ? NULL : lwm2m_linear_memory + ptr;
}

/* ---- SysTick: 24-bit down counter on the CPU clock, wraps counted ---- */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
#define CPU_HZ 25000000u
static volatile uint32_t systick_wraps;
void SysTick_Handler(void) { systick_wraps++; }
static uint64_t ticks(void) {
  uint32_t w, v;
  do { w = systick_wraps; v = SYST_CVR; } while (w != systick_wraps);
  return (uint64_t)w * 0x1000000u + (0xFFFFFFu - v);
}

/* ---- SHA-256 (FIPS 180-4), HMAC (RFC 2104) ---- */
typedef struct { uint32_t h[8]; uint64_t n; uint8_t buf[64]; uint32_t used; } sha256;
static const uint32_t K[64] = {
  0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,
  0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
  0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,
  0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
  0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,
  0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2 };
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static void sha_block(sha256 *s, const uint8_t *p) {
  uint32_t w[64], a, b, c, d, e, f, g, h;
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) w[i] = w[i - 16] + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 7] + (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
  a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}
static void sha_init(sha256 *s) {
  static const uint32_t H0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
  memcpy(s->h, H0, sizeof H0); s->n = 0; s->used = 0;
}
static void sha_update(sha256 *s, const uint8_t *p, size_t n) {
  s->n += n;
  while (n > 0) {
    uint32_t k = 64 - s->used < n ? 64 - s->used : (uint32_t)n;
    memcpy(s->buf + s->used, p, k); s->used += k; p += k; n -= k;
    if (s->used == 64) { sha_block(s, s->buf); s->used = 0; }
  }
}
static void sha_final(sha256 *s, uint8_t out[32]) {
  uint64_t bits = s->n * 8;
  uint8_t pad = 0x80, z = 0, len[8];
  sha_update(s, &pad, 1);
  while (s->used != 56) sha_update(s, &z, 1);
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha_update(s, len, 8);
  for (int i = 0; i < 8; i++) { out[4 * i] = (uint8_t)(s->h[i] >> 24); out[4 * i + 1] = (uint8_t)(s->h[i] >> 16); out[4 * i + 2] = (uint8_t)(s->h[i] >> 8); out[4 * i + 3] = (uint8_t)s->h[i]; }
}
/* HMAC-SHA-256 over up to three parts (32-byte key) */
static void hmac(const uint8_t key[32], const uint8_t *a, size_t na, const uint8_t *b, size_t nb, const uint8_t *c, size_t nc, uint8_t out[32]) {
  uint8_t pad[64], inner[32];
  sha256 s;
  for (int i = 0; i < 64; i++) pad[i] = (uint8_t)((i < 32 ? key[i] : 0) ^ 0x36);
  sha_init(&s); sha_update(&s, pad, 64); sha_update(&s, a, na); sha_update(&s, b, nb); sha_update(&s, c, nc); sha_final(&s, inner);
  for (int i = 0; i < 64; i++) pad[i] ^= 0x36 ^ 0x5c;
  sha_init(&s); sha_update(&s, pad, 64); sha_update(&s, inner, 32); sha_final(&s, out);
}

/* ---- HMAC_DRBG (SP 800-90A §10.1.2) over health-tested samples (SP 800-90B §4.3, §4.4, H = 1) ---- */
static uint8_t Kd[32], Vd[32];
static int drbg_error = 1;
static int rct_a = -1, rct_b, apt_a = -1, apt_b, apt_i, health_failure;
static uint64_t xs = 0x243f6a8885a308d3ull; /* NOT a noise source: see the file comment */
static uint8_t sample(void) { xs ^= xs << 13; xs ^= xs >> 7; xs ^= xs << 17; return (uint8_t)(xs >> 32); }
static int health(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n && !health_failure; i++) {
    int x = p[i];
    if (x == rct_a) { if (++rct_b >= 21) health_failure = 1; } else { rct_a = x; rct_b = 1; }
    if (apt_i == 0) { apt_a = x; apt_b = 1; } else if (x == apt_a && ++apt_b >= 311) health_failure = 2;
    if (++apt_i == 512) apt_i = 0;
  }
  return !health_failure;
}
static int entropy(uint8_t *out, size_t n) { for (size_t i = 0; i < n; i++) out[i] = sample(); return health(out, n) ? 0 : -1; }
static void drbg_update(const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
  static const uint8_t zero = 0, one = 1;
  uint8_t v0[33];
  memcpy(v0, Vd, 32); v0[32] = zero;
  hmac(Kd, v0, 33, a, na, b, nb, Kd);
  hmac(Kd, Vd, 32, NULL, 0, NULL, 0, Vd);
  if (na + nb == 0) return;
  memcpy(v0, Vd, 32); v0[32] = one;
  hmac(Kd, v0, 33, a, na, b, nb, Kd);
  hmac(Kd, Vd, 32, NULL, 0, NULL, 0, Vd);
}
static void drbg_instantiate(void) {
  uint8_t startup[1024], seed[256 + 128 + 23];
  int ok = entropy(startup, sizeof startup) == 0 && entropy(seed, 384) == 0;
  memcpy(seed + 384, "lwm2m-wasm DeviceRng v1", 23);
  memset(Kd, 0, 32); memset(Vd, 1, 32);
  if (ok) { drbg_update(seed, sizeof seed, NULL, 0); drbg_error = 0; }
  memset(seed, 0, sizeof seed);
}
static int drbg_fill(uint8_t *out, size_t n) {
  if (drbg_error) { memset(out, 0, n); return RNG_HEALTH; }
  for (size_t off = 0; off < n; off += 32) {
    hmac(Kd, Vd, 32, NULL, 0, NULL, 0, Vd);
    memcpy(out + off, Vd, n - off < 32 ? n - off : 32);
  }
  drbg_update(NULL, 0, NULL, 0);
  return OK;
}

/* ---- NOR flash in RAM ---- */
static uint8_t flash[64 * 1024];
static uint32_t flash_ops;

/* ---- SE stub ---- */
static uint8_t device_key[32];
static uint64_t counter;

/* ---- the recorded network: sent datagrams to a file, answers per sent datagram from a file ---- */
#define MAX_DGRAMS 64
static int net_mode;             /* 0: no network (boot mode) */
static FILE *sent_file;
static uint32_t sent_count;      /* datagrams the firmware sent */
static uint8_t rec[32 * 1024];   /* recorded answers: per sent datagram u16 count, then count x (u16 len, bytes) */
static uint32_t rec_len, rec_entries, rec_off[MAX_DGRAMS];

/* ---- imports ---- */
#define I struct Z_lwm2m_v1_instance_t *inst
u32 Z_lwm2m_v1Z_net_open(I, u32 a, u32 b, u32 c) { return net_mode ? 0 : (u32)INVALID; }
void Z_lwm2m_v1Z_net_close(I, u32 a) {}
u32 Z_lwm2m_v1Z_net_send(I, u32 peer, u32 p, u32 n) {
  uint8_t *v = view(p, n);
  if (!v) return (u32)INVALID;
  if (!net_mode || peer != 0) return (u32)INVALID;
  uint8_t len[2] = { (uint8_t)(n >> 8), (uint8_t)n };
  fwrite(len, 1, 2, sent_file);
  fwrite(v, 1, n, sent_file);
  sent_count++;
  return OK;
}
u64 Z_lwm2m_v1Z_clock_monotonic_ms(I) { return ticks() / (CPU_HZ / 1000); }
u64 Z_lwm2m_v1Z_clock_wall_seconds(I) { return (u64)-1; }
u32 Z_lwm2m_v1Z_rng_fill(I, u32 p, u32 n) { uint8_t *v = view(p, n); return v ? (u32)drbg_fill(v, n) : (u32)INVALID; }
u32 Z_lwm2m_v1Z_se_generate_p256(I, u32 s, u32 o) { return (u32)INVALID; }
u32 Z_lwm2m_v1Z_se_import_p256(I, u32 s, u32 p, u32 n, u32 o) { return (u32)INVALID; }
u32 Z_lwm2m_v1Z_se_public_key(I, u32 s, u32 o) { return (u32)(s < 16 ? NOKEY : INVALID); }
u32 Z_lwm2m_v1Z_se_sign_digest(I, u32 s, u32 d, u32 o) { return (u32)INVALID; }
u32 Z_lwm2m_v1Z_se_ecdh(I, u32 s, u32 p, u32 n, u32 o) { return (u32)INVALID; }
u32 Z_lwm2m_v1Z_se_verify_digest(I, u32 p, u32 n, u32 d, u32 s) { return (u32)INVALID; }
u32 Z_lwm2m_v1Z_se_destroy(I, u32 s) { return s < 16 ? OK : (u32)INVALID; }
/* integrity only: nonce(12) || plaintext || HMAC-SHA-256(key, nonce || aad || plaintext)[0..16) */
u32 Z_lwm2m_v1Z_se_seal(I, u32 in, u32 n, u32 aad, u32 na, u32 out, u32 cap) {
  uint8_t *i = view(in, n), *a = view(aad, na), *o = view(out, cap), tag[32], nonce[12];
  if (!i || !a || !o) return (u32)INVALID;
  if ((uint64_t)n + 28 > cap) return (u32)TOO_SMALL;
  if (drbg_fill(nonce, 12) != OK) return (u32)RNG_HEALTH;
  hmac(device_key, nonce, 12, a, na, i, n, tag);
  memmove(o + 12, i, n);
  memcpy(o, nonce, 12);
  memcpy(o + 12 + n, tag, 16);
  return n + 28;
}
u32 Z_lwm2m_v1Z_se_open(I, u32 in, u32 n, u32 aad, u32 na, u32 out, u32 cap) {
  uint8_t *i = view(in, n), *a = view(aad, na), *o = view(out, cap), tag[32];
  if (!i || !a || !o) return (u32)INVALID;
  if (n < 28) return (u32)AUTH_FAILED;
  hmac(device_key, i, 12, a, na, i + 12, n - 28, tag);
  uint8_t diff = 0;
  for (int k = 0; k < 16; k++) diff |= tag[k] ^ i[n - 16 + k];
  if (diff) return (u32)AUTH_FAILED;
  if (n - 28 > cap) return (u32)TOO_SMALL;
  memmove(o, i + 12, n - 28);
  return n - 28;
}
u64 Z_lwm2m_v1Z_se_counter(I, u32 inc) { if (inc) counter++; return counter; }
u32 Z_lwm2m_v1Z_flash_size(I) { return sizeof flash; }
u32 Z_lwm2m_v1Z_flash_sector_size(I) { return 4096; }
u32 Z_lwm2m_v1Z_flash_read(I, u32 addr, u32 p, u32 n) {
  uint8_t *o = view(p, n);
  if (!o || (uint64_t)addr + n > sizeof flash) return (u32)INVALID;
  memcpy(o, flash + addr, n);
  return OK;
}
u32 Z_lwm2m_v1Z_flash_program(I, u32 addr, u32 p, u32 n) {
  uint8_t *v = view(p, n);
  if (!v || (uint64_t)addr + n > sizeof flash) return (u32)INVALID;
  for (u32 k = 0; k < n; k++) if (v[k] & ~flash[addr + k]) return (u32)NOT_PERMITTED;
  for (u32 k = 0; k < n; k++) flash[addr + k] &= v[k];
  flash_ops++;
  return OK;
}
u32 Z_lwm2m_v1Z_flash_erase_sector(I, u32 addr) {
  if (addr % 4096 || addr >= sizeof flash) return (u32)INVALID;
  memset(flash + addr, 0xff, 4096);
  flash_ops++;
  return OK;
}
/* A log text over the UART as a real board sends it: ASCII, and each log-dictionary token
 * (byte 0x80-0xFF and the next) as "<#id>", decoded on the PC with build/firmware.wasm.logdict. */
static void put_text(const uint8_t *v, u32 n) {
  for (u32 i = 0; v && i < n; i++) {
    if (v[i] < 0x80) putchar(v[i]);
    else if (i + 1 < n) { printf("<#%u>", (unsigned)(v[i] & 0x7f) << 8 | v[i + 1]); i++; }
    else printf("<#?>");
  }
}
void Z_lwm2m_v1Z_log_write(I, u32 level, u32 p, u32 n) {
  static const char *const L[] = { "[error]", "[warn]", "[info]", "[debug]" };
  uint8_t *v = view(p, n);
  if (!v) return;
  printf("%-8s ", level < 4 ? L[level] : "[?]");
  put_text(v, n);
  putchar('\n');
}
void Z_lwm2m_v1Z_fatal(I, u32 code, u32 line) { printf("FATAL: firmware fatal error %u at line %u\n", (unsigned)code, (unsigned)line); }

/* ---- traps, vectors, main ---- */
void fault_report(uint32_t *frame) {
  printf("TRAP: the firmware trapped (udf / fault) at pc 0x%08lx, CFSR 0x%08lx\n", (unsigned long)frame[6],
         (unsigned long)*(volatile uint32_t *)0xE000ED28);
  exit(1);
}
__attribute__((naked)) void HardFault_Handler(void) {
  __asm volatile("tst lr, #4\n ite eq\n mrseq r0, msp\n mrsne r0, psp\n b fault_report\n");
}
extern void _start(void);
extern uint32_t __StackTop;
void Reset_Handler(void) { _start(); }
static void default_handler(void) { HardFault_Handler(); }
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
  (void (*)(void))&__StackTop, Reset_Handler, default_handler, HardFault_Handler, default_handler, default_handler, default_handler,
  0, 0, 0, 0, default_handler, default_handler, 0, default_handler, SysTick_Handler,
};

#define PAINT (32 * 1024)
static __attribute__((noinline)) void stack_paint(void) { volatile uint8_t a[PAINT]; for (size_t i = 0; i < PAINT; i++) a[i] = 0xCD; (void)a[0]; }
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
static __attribute__((noinline)) size_t stack_used(void) { volatile uint8_t a[PAINT]; size_t i = 0; while (i < PAINT && a[i] == 0xCD) i++; return PAINT - i; }

static Z_firmware_instance_t fw;
static struct Z_lwm2m_v1_instance_t *imports;
static uint64_t deadline;
static int registered;

static void drain_events(void) {
  static const char *const names[] = { "", "bootstrapRequested", "bootstrapped", "bootstrapFailed", "registered", "registrationFailed" };
  for (int k; (k = (int)Z_firmwareZ_event_next(&fw)) != 0;) {
    uint8_t *t = view(Z_firmwareZ_event_text(&fw), Z_firmwareZ_event_text_len(&fw));
    if (k == 4) {
      registered = 1;
      printf("[event]  registered (ssid %d) at ", (int)Z_firmwareZ_event_ssid(&fw));
      put_text(t, Z_firmwareZ_event_text_len(&fw));
      printf(", lifetime %d s\n", (int)Z_firmwareZ_event_arg(&fw));
    }
    else printf("[event]  %s %d\n", k < 6 ? names[k] : "event", (int)Z_firmwareZ_event_arg(&fw));
  }
}

static u32 write_config(const uint8_t *p, size_t n) {
  uint8_t *cb = view(Z_firmwareZ_config_buffer(&fw), (u32)n);
  if (!cb || n > Z_firmwareZ_config_capacity(&fw)) return 0;
  memcpy(cb, p, n);
  return (u32)n;
}

/* dtls URI ANSWERS SENT: provision a DTLS-PSK LwM2M Server account and run until registered or
 * until the firmware sends a datagram that has no recorded answer (then the recorder takes over). */
static int dtls_mode(const char *uri, const char *answers, const char *sent) {
  FILE *f = fopen(answers, "rb");
  if (f) { rec_len = (uint32_t)fread(rec, 1, sizeof rec, f); fclose(f); }
  for (uint32_t off = 0; off + 2 <= rec_len && rec_entries < MAX_DGRAMS; rec_entries++) {
    rec_off[rec_entries] = off;
    uint32_t count = (uint32_t)rec[off] << 8 | rec[off + 1];
    off += 2;
    for (uint32_t k = 0; k < count && off + 2 <= rec_len; k++) off += 2 + ((uint32_t)rec[off] << 8 | rec[off + 1]);
  }
  sent_file = fopen(sent, "wb");
  if (!sent_file) { printf("cannot open %s\n", sent); return 2; }
  net_mode = 1;
  lwm2m_config c = { .endpoint = "lwm2m-wasm-demo", .uri = uri, .psk_identity = "lwm2m-wasm-demo",
                     .psk_key_hex = "e3f44a4d285867330c457c686d5489b2", .ssid = 1, .lifetime = 300 };
  static lwm2m_buf sec, srv;
  lwm2m_factory_tlv(&c, &sec, &srv);
  u32 code = Z_firmwareZ_provision_begin(&fw);
  if (code == 0x42) code = Z_firmwareZ_provision_write(&fw, 0, 0xffff, 11542, write_config(sec.b, sec.n));
  if (code == 0x44) code = Z_firmwareZ_provision_write(&fw, 1, 0xffff, 11542, write_config(srv.b, srv.n));
  if (code == 0x44) code = Z_firmwareZ_provision_finish(&fw, write_config((const uint8_t *)c.endpoint, strlen(c.endpoint)), 0, Z_lwm2m_v1Z_clock_monotonic_ms(imports));
  memset(sec.b, 0, sec.n);
  if (code != 0x44) { printf("provisioning refused: %u\n", (unsigned)code); return 1; }
  uint64_t t0 = ticks();
  deadline = Z_firmwareZ_poll(&fw, Z_lwm2m_v1Z_clock_monotonic_ms(imports));
  drain_events();
  uint32_t answered = 0;
  for (int guard = 0; guard < 1000 && !registered; guard++) {
    if (answered < sent_count) { /* answers to the next sent datagram, in the recorded order */
      if (answered >= rec_entries) { printf("waiting: datagram %lu has no recorded answer\n", (unsigned long)answered + 1); break; }
      uint32_t off = rec_off[answered++];
      uint32_t count = (uint32_t)rec[off] << 8 | rec[off + 1];
      off += 2;
      for (uint32_t k = 0; k < count; k++) {
        uint32_t len = (uint32_t)rec[off] << 8 | rec[off + 1];
        uint8_t *rx = view(Z_firmwareZ_rx_buffer(&fw), len);
        if (!rx || len > Z_firmwareZ_rx_capacity(&fw) || off + 2 + len > rec_len) { printf("bad recording\n"); return 1; }
        memcpy(rx, rec + off + 2, len);
        off += 2 + len;
        deadline = Z_firmwareZ_datagram_received(&fw, 0, len, Z_lwm2m_v1Z_clock_monotonic_ms(imports));
        drain_events();
      }
      continue;
    }
    if ((int64_t)deadline >= 0 && (int64_t)deadline <= (int64_t)Z_lwm2m_v1Z_clock_monotonic_ms(imports)) {
      deadline = Z_firmwareZ_timer_fired(&fw, Z_lwm2m_v1Z_clock_monotonic_ms(imports));
      drain_events();
      continue;
    }
    break; /* nothing due: the next step needs an answer we do not have */
  }
  fclose(sent_file);
  printf("datagrams sent %lu, answered %lu; SysTick ticks from provisioning to here: %lu\n", (unsigned long)sent_count,
         (unsigned long)answered, (unsigned long)(ticks() - t0));
  printf("stack high-water: %u bytes\n", (unsigned)stack_used());
  return registered ? 0 : 3;
}

int main(int argc, char **argv) {
  SYST_RVR = 0xFFFFFF; SYST_CVR = 0; SYST_CSR = 7; /* CPU clock, interrupt on wrap, enabled */
  printf("lwm2m-wasm on an emulated Cortex-M4 (mps2-an386): wasm2c, fixed-size memory checks\n");
  printf("NOTE: entropy is a fixed xorshift (no noise source on this board) and the SE is a stub without P-256\n");
  for (int k = 0; k < 32; k++) device_key[k] = (uint8_t)(0xA5 ^ k);
  memset(flash, 0xff, sizeof flash);
  stack_paint();
  uint64_t t0 = ticks();
  drbg_instantiate();
  wasm_rt_init();
  Z_firmware_init_module();
  Z_firmware_instantiate(&fw, imports);
  Z_firmwareZ__initialize(&fw);
  deadline = Z_firmwareZ_init(&fw, Z_lwm2m_v1Z_clock_monotonic_ms(imports));
  uint32_t status = Z_firmwareZ_boot_status(&fw);
  if (argc >= 5 && !strcmp(argv[1], "dtls")) return dtls_mode(argv[2], argv[3], argv[4]);
  uint64_t t1 = ticks();
  uint32_t first = (uint32_t)(t1 - t0);
  /* a second boot from the flash the first one formatted: the mount path */
  Z_firmware_free(&fw);
  Z_firmware_instantiate(&fw, imports);
  Z_firmwareZ__initialize(&fw);
  Z_firmwareZ_init(&fw, Z_lwm2m_v1Z_clock_monotonic_ms(imports));
  uint32_t status2 = Z_firmwareZ_boot_status(&fw);
  uint64_t t2 = ticks();
  size_t stack = stack_used();
  printf("boot status: DRBG %s, SE %s, flash %s; again from flash: flash %s\n", status & 1 ? "ok" : "FAILED",
         status & 2 ? "ok" : "FAILED (stub SE, no P-256)", status & 4 ? "ok" : "FAILED", status2 & 4 ? "ok" : "FAILED");
  printf("next deadline %lld, flash operations %lu\n", (long long)deadline, (unsigned long)flash_ops);
  printf("SysTick ticks at 25 MHz: first boot %lu, second boot %lu (x40 = instructions under -icount shift=0)\n",
         (unsigned long)first, (unsigned long)(t2 - t1));
  printf("stack high-water: %u bytes\n", (unsigned)stack);
  return (status & 5) == 5 && (status2 & 4) ? 0 : 1;
}

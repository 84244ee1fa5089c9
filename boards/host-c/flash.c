/* NOR flash in a file behind the flash_* imports, as host-shim/node/flash.ts:
 * erased state 0xFF, programming only clears bits (NotPermitted, nothing
 * written, for a 0 -> 1 bit), erase works on whole aligned sectors; every
 * operation is written through to the file, so a restart that reopens it sees
 * exactly what a power cut left. Power-cut injection: the n-th program/erase
 * is torn (a random prefix in [0, len) is applied) and every later operation
 * fails with Io, as after the supply dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include "lwm2m_host.h"

static int write_through(lwm2m_flash *f, uint32_t addr, uint32_t len) {
  if (f->fd < 0 || len == 0) return 0;
  return pwrite(f->fd, f->image + addr, len, addr) == (ssize_t)len ? 0 : -1;
}

int lwm2m_flash_init(lwm2m_flash *f, const char *path, uint32_t size, uint32_t sector_size) {
  memset(f, 0, sizeof *f);
  f->fd = -1;
  if (sector_size == 0 || size == 0 || size % sector_size != 0 || size > 0x7fffffff) return -1;
  f->size = size;
  f->sector_size = sector_size;
  f->image = malloc(size);
  if (!f->image) return -1;
  memset(f->image, 0xff, size);
  if (!path) return 0;
  f->fd = open(path, O_RDWR);
  if (f->fd >= 0) {
    struct stat st;
    if (fstat(f->fd, &st) != 0 || (uint64_t)st.st_size != size || pread(f->fd, f->image, size, 0) != (ssize_t)size) {
      fprintf(stderr, "flash image %s does not have the configured size %u\n", path, size);
      return -1;
    }
    return 0;
  }
  f->fd = open(path, O_RDWR | O_CREAT, 0600);
  if (f->fd < 0) return -1;
  return write_through(f, 0, size);
}

void lwm2m_flash_free(lwm2m_flash *f) {
  if (f->fd >= 0) close(f->fd);
  free(f->image);
  f->fd = -1;
  f->image = NULL;
}

void lwm2m_flash_cut_power_after(lwm2m_flash *f, uint32_t n, uint64_t seed) {
  f->cut_countdown = n;
  f->rand_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static int in_bounds(lwm2m_flash *f, uint32_t addr, uint32_t len) { return (uint64_t)addr + len <= f->size; }

static int tears_now(lwm2m_flash *f) {
  if (f->cut_countdown == 0) return 0;
  return --f->cut_countdown == 0;
}

/* A torn operation never completes: length in [0, n). */
static uint32_t torn_length(lwm2m_flash *f, uint32_t n) {
  uint64_t x = f->rand_state; /* xorshift64 */
  x ^= x << 13; x ^= x >> 7; x ^= x << 17;
  f->rand_state = x;
  return (uint32_t)(x % n);
}

static int lose_power(lwm2m_flash *f, const char *kind, uint32_t addr) {
  f->lost = 1;
  f->lost_kind = kind;
  f->lost_addr = addr;
  return LWM2M_IO;
}

int lwm2m_flash_read(lwm2m_flash *f, uint32_t addr, uint8_t *out, uint32_t len) {
  if (f->lost) return LWM2M_IO;
  if (!in_bounds(f, addr, len)) return LWM2M_INVALID;
  f->reads++;
  memcpy(out, f->image + addr, len);
  return LWM2M_OK;
}

int lwm2m_flash_program(lwm2m_flash *f, uint32_t addr, const uint8_t *data, uint32_t len) {
  if (f->lost) return LWM2M_IO;
  if (!in_bounds(f, addr, len)) return LWM2M_INVALID;
  for (uint32_t i = 0; i < len; i++) if (data[i] & ~f->image[addr + i]) return LWM2M_NOT_PERMITTED;
  if (len == 0) return LWM2M_OK;
  int torn = tears_now(f);
  uint32_t n = torn ? torn_length(f, len) : len;
  for (uint32_t i = 0; i < n; i++) f->image[addr + i] &= data[i];
  if (write_through(f, addr, n) != 0) return lose_power(f, "program", addr);
  f->programs++;
  f->bytes_programmed += n;
  return torn ? lose_power(f, "program", addr) : LWM2M_OK;
}

int lwm2m_flash_erase(lwm2m_flash *f, uint32_t addr) {
  if (f->lost) return LWM2M_IO;
  if (!in_bounds(f, addr, f->sector_size) || addr % f->sector_size != 0) return LWM2M_INVALID;
  int torn = tears_now(f);
  uint32_t n = torn ? torn_length(f, f->sector_size) : f->sector_size;
  memset(f->image + addr, 0xff, n);
  if (write_through(f, addr, n) != 0) return lose_power(f, "erase", addr);
  f->erases++;
  return torn ? lose_power(f, "erase", addr) : LWM2M_OK;
}

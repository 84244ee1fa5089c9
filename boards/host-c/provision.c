/* Factory configuration TLV (provision.h). */
#include <string.h>
#include "provision.h"

static void put(lwm2m_buf *o, const void *p, size_t n) {
  if (o->n + n > sizeof o->b) { o->overflow = 1; return; }
  if (n) memcpy(o->b + o->n, p, n);
  o->n += n;
}
static void tlv(lwm2m_buf *o, int kind, int id, const uint8_t *v, size_t n) {
  uint8_t h[6]; size_t k = 0;
  h[k++] = (uint8_t)(kind | (id > 255 ? 0x20 : 0));
  if (id > 255) { h[k++] = (uint8_t)(id >> 8); h[k++] = (uint8_t)id; } else h[k++] = (uint8_t)id;
  if (n < 8) h[0] |= (uint8_t)n;
  else if (n < 256) { h[0] |= 0x08; h[k++] = (uint8_t)n; }
  else { h[0] |= 0x10; h[k++] = (uint8_t)(n >> 8); h[k++] = (uint8_t)n; }
  put(o, h, k);
  put(o, v, n);
}
static void r_int(lwm2m_buf *o, int id, int64_t v) {
  uint8_t b[8]; int n = 8;
  if (v >= -128 && v < 128) n = 1; else if (v >= -32768 && v < 32768) n = 2; else if (v >= -2147483648LL && v < 2147483648LL) n = 4;
  for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  tlv(o, 0xc0, id, b, (size_t)n);
}
static void r_bytes(lwm2m_buf *o, int id, const uint8_t *v, size_t n) { tlv(o, 0xc0, id, v, n); }
static void r_str(lwm2m_buf *o, int id, const char *s) { r_bytes(o, id, (const uint8_t *)s, strlen(s)); }
static void r_bool(lwm2m_buf *o, int id, int v) { uint8_t b = v ? 1 : 0; tlv(o, 0xc0, id, &b, 1); }
static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }

void lwm2m_factory_tlv(const lwm2m_config *c, lwm2m_buf *sec, lwm2m_buf *srv) {
  static lwm2m_buf inst;
  uint8_t key[64]; size_t key_len = 0;
  int psk = c->psk_identity != NULL;
  for (size_t i = 0; psk && c->psk_key_hex[2 * i] && key_len < sizeof key; i++)
    key[key_len++] = (uint8_t)(hexval(c->psk_key_hex[2 * i]) * 16 + hexval(c->psk_key_hex[2 * i + 1]));
  sec->n = srv->n = inst.n = 0;
  sec->overflow = srv->overflow = inst.overflow = 0;
  r_str(&inst, 0, c->uri);
  r_bool(&inst, 1, c->bootstrap);
  r_int(&inst, 2, psk ? 0 : 3); /* security mode: 0 PSK, 3 NoSec */
  r_bytes(&inst, 3, (const uint8_t *)(psk ? c->psk_identity : ""), psk ? strlen(c->psk_identity) : 0);
  r_bytes(&inst, 4, NULL, 0);
  r_bytes(&inst, 5, key, key_len);
  if (!c->bootstrap) r_int(&inst, 10, c->ssid);
  else r_int(&inst, 11, c->hold_off);
  tlv(sec, 0x00, 0, inst.b, inst.n);
  sec->overflow |= inst.overflow;
  memset(key, 0, sizeof key);
  memset(inst.b, 0, inst.n);
  if (!c->bootstrap) {
    inst.n = 0;
    r_int(&inst, 0, c->ssid);
    r_int(&inst, 1, c->lifetime);
    r_bool(&inst, 6, 1);
    r_str(&inst, 7, "U");
    tlv(srv, 0x00, 0, inst.b, inst.n);
    srv->overflow |= inst.overflow;
  }
}

/* Factory configuration as LwM2M TLV (Core §7.4.3) for provision_write, as
 * factoryPayloads in host-shim/node/device.ts: one Security Object instance
 * (a Bootstrap-Server or LwM2M Server account, NoSec or PSK) and, for an
 * LwM2M Server, its Server Object instance. No libc beyond string.h, so the
 * bare-metal board (boards/m4) uses it too. */
#ifndef LWM2M_PROVISION_H
#define LWM2M_PROVISION_H
#include <stddef.h>
#include <stdint.h>

typedef struct { uint8_t b[2048]; size_t n; int overflow; } lwm2m_buf;

typedef struct {
  const char *endpoint, *uri, *psk_identity, *psk_key_hex; /* psk_identity NULL: NoSec */
  int bootstrap, low_entropy, ssid;
  long lifetime, hold_off;
} lwm2m_config;

/* /0 into sec, /1 into srv (empty for a bootstrap account). The PSK is decoded from hex here and
 * lives only in sec: the caller wipes sec after writing it. */
void lwm2m_factory_tlv(const lwm2m_config *c, lwm2m_buf *sec, lwm2m_buf *srv);
#endif

/* wasm2c binding: build/firmware.wasm translated to C by wabt's wasm2c
 * (1.0.32: imports are Z_lwm2m_v1Z_<name>, exports Z_firmwareZ_<name>) and
 * linked with the C host (boards/host-c). Each import forwards to the host's
 * bounds-checked lwm2m_abi_* function with the memory as it is at the call;
 * each export call runs under wasm_rt_impl_try, so a trap (the firmware's
 * `unreachable` after `fatal`, an out-of-bounds access) comes back as an
 * error instead of ending the process. */
#include <stdio.h>
#include <string.h>
#include "wasm-rt-impl.h"
#include "firmware.h"
#include "lwm2m_host.h"

struct Z_lwm2m_v1_instance_t {
  lwm2m_host *host;
  Z_firmware_instance_t *fw;
};

static lwm2m_host g_host;
static Z_firmware_instance_t g_instance;
static struct Z_lwm2m_v1_instance_t g_imports = { &g_host, &g_instance };
static int g_instantiated;

static lwm2m_mem mem_of(struct Z_lwm2m_v1_instance_t *i) {
  wasm_rt_memory_t *m = Z_firmwareZ_memory(i->fw);
  lwm2m_mem v = { m->data, m->size };
  return v;
}
#define H(i) (i)->host, mem_of(i)

u32 Z_lwm2m_v1Z_net_open(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c) { return (u32)lwm2m_abi_net_open(H(i), a, b, c); }
void Z_lwm2m_v1Z_net_close(struct Z_lwm2m_v1_instance_t *i, u32 a) { lwm2m_abi_net_close(H(i), a); }
u32 Z_lwm2m_v1Z_net_send(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c) { return (u32)lwm2m_abi_net_send(H(i), a, b, c); }
u64 Z_lwm2m_v1Z_clock_monotonic_ms(struct Z_lwm2m_v1_instance_t *i) { return (u64)lwm2m_abi_clock_monotonic_ms(H(i)); }
u64 Z_lwm2m_v1Z_clock_wall_seconds(struct Z_lwm2m_v1_instance_t *i) { return (u64)lwm2m_abi_clock_wall_seconds(H(i)); }
u32 Z_lwm2m_v1Z_rng_fill(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b) { return (u32)lwm2m_abi_rng_fill(H(i), a, b); }
u32 Z_lwm2m_v1Z_se_generate_p256(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b) { return (u32)lwm2m_abi_se_generate_p256(H(i), a, b); }
u32 Z_lwm2m_v1Z_se_import_p256(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c, u32 d) { return (u32)lwm2m_abi_se_import_p256(H(i), a, b, c, d); }
u32 Z_lwm2m_v1Z_se_public_key(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b) { return (u32)lwm2m_abi_se_public_key(H(i), a, b); }
u32 Z_lwm2m_v1Z_se_sign_digest(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c) { return (u32)lwm2m_abi_se_sign_digest(H(i), a, b, c); }
u32 Z_lwm2m_v1Z_se_ecdh(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c, u32 d) { return (u32)lwm2m_abi_se_ecdh(H(i), a, b, c, d); }
u32 Z_lwm2m_v1Z_se_verify_digest(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c, u32 d) { return (u32)lwm2m_abi_se_verify_digest(H(i), a, b, c, d); }
u32 Z_lwm2m_v1Z_se_destroy(struct Z_lwm2m_v1_instance_t *i, u32 a) { return (u32)lwm2m_abi_se_destroy(H(i), a); }
u32 Z_lwm2m_v1Z_se_seal(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c, u32 d, u32 e, u32 f) { return (u32)lwm2m_abi_se_seal(H(i), a, b, c, d, e, f); }
u32 Z_lwm2m_v1Z_se_open(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c, u32 d, u32 e, u32 f) { return (u32)lwm2m_abi_se_open(H(i), a, b, c, d, e, f); }
u64 Z_lwm2m_v1Z_se_counter(struct Z_lwm2m_v1_instance_t *i, u32 a) { return (u64)lwm2m_abi_se_counter(H(i), a); }
u32 Z_lwm2m_v1Z_flash_size(struct Z_lwm2m_v1_instance_t *i) { return (u32)lwm2m_abi_flash_size(H(i)); }
u32 Z_lwm2m_v1Z_flash_sector_size(struct Z_lwm2m_v1_instance_t *i) { return (u32)lwm2m_abi_flash_sector_size(H(i)); }
u32 Z_lwm2m_v1Z_flash_read(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c) { return (u32)lwm2m_abi_flash_read(H(i), a, b, c); }
u32 Z_lwm2m_v1Z_flash_program(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c) { return (u32)lwm2m_abi_flash_program(H(i), a, b, c); }
u32 Z_lwm2m_v1Z_flash_erase_sector(struct Z_lwm2m_v1_instance_t *i, u32 a) { return (u32)lwm2m_abi_flash_erase_sector(H(i), a); }
void Z_lwm2m_v1Z_log_write(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b, u32 c) { lwm2m_abi_log_write(H(i), a, b, c); }
void Z_lwm2m_v1Z_fatal(struct Z_lwm2m_v1_instance_t *i, u32 a, u32 b) { lwm2m_abi_fatal(H(i), a, b); }

static int w2c_instantiate(lwm2m_fw *fw) {
  (void)fw;
  if (g_instantiated) Z_firmware_free(&g_instance);
  memset(&g_instance, 0, sizeof g_instance);
  g_host.fatal = 0;
  if (wasm_rt_impl_try() != 0) return -1; /* a trap while initialising the data segments */
  Z_firmware_instantiate(&g_instance, &g_imports);
  g_instantiated = 1;
  return 0;
}

static lwm2m_mem w2c_memory(lwm2m_fw *fw) { (void)fw; return mem_of(&g_imports); }

static int w2c_call(lwm2m_fw *fw, lwm2m_export e, const int64_t *a, int64_t *ret) {
  (void)fw;
  Z_firmware_instance_t *I = &g_instance;
  wasm_rt_trap_t trap = wasm_rt_impl_try();
  if (trap != WASM_RT_TRAP_NONE) return -1;
  switch (e) {
    case FW_INITIALIZE: Z_firmwareZ__initialize(I); *ret = 0; break;
    case FW_ABI_VERSION: *ret = (int32_t)Z_firmwareZ_abi_version(I); break;
    case FW_RX_BUFFER: *ret = (int32_t)Z_firmwareZ_rx_buffer(I); break;
    case FW_RX_CAPACITY: *ret = (int32_t)Z_firmwareZ_rx_capacity(I); break;
    case FW_INIT: *ret = (int64_t)Z_firmwareZ_init(I, (u64)a[0]); break;
    case FW_DATAGRAM_RECEIVED: *ret = (int64_t)Z_firmwareZ_datagram_received(I, (u32)a[0], (u32)a[1], (u64)a[2]); break;
    case FW_TIMER_FIRED: *ret = (int64_t)Z_firmwareZ_timer_fired(I, (u64)a[0]); break;
    case FW_BOOT_STATUS: *ret = (int32_t)Z_firmwareZ_boot_status(I); break;
    case FW_POLL: *ret = (int64_t)Z_firmwareZ_poll(I, (u64)a[0]); break;
    case FW_SHUTDOWN: *ret = (int64_t)Z_firmwareZ_shutdown(I, (u64)a[0]); break;
    case FW_CONFIG_BUFFER: *ret = (int32_t)Z_firmwareZ_config_buffer(I); break;
    case FW_CONFIG_CAPACITY: *ret = (int32_t)Z_firmwareZ_config_capacity(I); break;
    case FW_PROVISION_BEGIN: *ret = (int32_t)Z_firmwareZ_provision_begin(I); break;
    case FW_PROVISION_WRITE: *ret = (int32_t)Z_firmwareZ_provision_write(I, (u32)a[0], (u32)a[1], (u32)a[2], (u32)a[3]); break;
    case FW_PROVISION_FINISH: *ret = (int32_t)Z_firmwareZ_provision_finish(I, (u32)a[0], (u32)a[1], (u64)a[2]); break;
    case FW_PROVISION_ABORT: *ret = (int32_t)Z_firmwareZ_provision_abort(I, (u64)a[0]); break;
    case FW_PROVISIONED: *ret = (int32_t)Z_firmwareZ_provisioned(I); break;
    case FW_CONFIG_ERROR: *ret = (int32_t)Z_firmwareZ_config_error(I); break;
    case FW_HOST_REQUEST: *ret = (int32_t)Z_firmwareZ_host_request(I); break;
    case FW_EVENT_NEXT: *ret = (int32_t)Z_firmwareZ_event_next(I); break;
    case FW_EVENT_SSID: *ret = (int32_t)Z_firmwareZ_event_ssid(I); break;
    case FW_EVENT_ARG: *ret = (int32_t)Z_firmwareZ_event_arg(I); break;
    case FW_EVENT_TEXT: *ret = (int32_t)Z_firmwareZ_event_text(I); break;
    case FW_EVENT_TEXT_LEN: *ret = (int32_t)Z_firmwareZ_event_text_len(I); break;
    case FW_CLIENT_STATE: *ret = (int32_t)Z_firmwareZ_client_state(I, (u32)a[0]); break;
    default: return -1;
  }
  return 0;
}

/* --stats: the C stack's high-water mark (firmware + host + Mbed TLS), by painting
 * STACK_PAINT bytes below main's frame before the run and scanning them after. */
#define STACK_PAINT (256 * 1024)
static __attribute__((noinline)) void stack_paint(void) {
  volatile uint8_t area[STACK_PAINT];
  for (size_t i = 0; i < sizeof area; i++) area[i] = 0xCD;
}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized" /* reading what stack_paint left is the point */
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
static __attribute__((noinline)) size_t stack_used(void) {
  volatile uint8_t area[STACK_PAINT];
  size_t i = 0;
  while (i < sizeof area && area[i] == 0xCD) i++;
  return sizeof area - i; /* from the far end (lowest address) up to the first byte written */
}
#pragma GCC diagnostic pop

int main(int argc, char **argv) {
  wasm_rt_init();
  Z_firmware_init_module();
  int stats = 0;
  for (int i = 0; i < argc; i++) if (!strcmp(argv[i], "--stats")) stats = 1;
  if (stats) stack_paint();
  lwm2m_fw fw = { "wasm2c", w2c_instantiate, w2c_call, w2c_memory, NULL };
  int r = lwm2m_main(&g_host, &fw, argc, argv);
  if (stats) {
    wasm_rt_memory_t *m = Z_firmwareZ_memory(&g_instance);
    printf("C stack high-water: %zu bytes\n", stack_used());
    printf("linear memory: %u bytes, __heap_base %u\n", m->size, *Z_firmwareZ___heap_base(&g_instance));
  }
  if (g_instantiated) Z_firmware_free(&g_instance);
  wasm_rt_free();
  return r;
}

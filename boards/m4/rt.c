/* The wasm2c runtime functions the translated firmware needs, for bare
 * metal (wabt's wasm-rt-impl.c needs mmap and signals): one linear memory
 * of exactly one page at a fixed address (the module declares 1 page min =
 * max; the bounds checks in the M4 build compare with that constant), a
 * static funcref table, function types by pointer. Traps are `udf`
 * (HardFault, board.c). */
#include <stdarg.h>
#include <string.h>
#include "wasm-rt.h"

unsigned char lwm2m_linear_memory[65536] __attribute__((aligned(8)));
static wasm_rt_funcref_t table_elems[64];
static int initialized;

void wasm_rt_init(void) { initialized = 1; }
bool wasm_rt_is_initialized(void) { return initialized; }
void wasm_rt_free(void) { initialized = 0; }

void wasm_rt_allocate_memory(wasm_rt_memory_t *m, uint32_t initial_pages, uint32_t max_pages) {
  if (initial_pages != 1 || max_pages != 1) __builtin_trap(); /* built for the 1-page module only */
  m->data = lwm2m_linear_memory;
  m->pages = 1;
  m->max_pages = 1;
  m->size = sizeof lwm2m_linear_memory;
  memset(m->data, 0, m->size);
}
uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *m, uint32_t delta) { return delta == 0 ? m->pages : (uint32_t)-1; }
void wasm_rt_free_memory(wasm_rt_memory_t *m) { (void)m; }

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *t, uint32_t elements, uint32_t max_elements) {
  (void)max_elements;
  if (elements > sizeof table_elems / sizeof table_elems[0]) __builtin_trap();
  t->data = table_elems;
  t->size = elements;
  t->max_size = elements;
  memset(table_elems, 0, sizeof table_elems);
}
void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *t) { (void)t; }

/* Function types as indices: one per distinct signature (call_indirect compares them). */
uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  static struct { uint32_t p, r; uint8_t types[24]; } seen[128];
  static uint32_t n;
  va_list ap;
  uint8_t t[24] = { 0 };
  va_start(ap, results);
  for (uint32_t i = 0; i < params + results && i < 24; i++) t[i] = (uint8_t)va_arg(ap, int);
  va_end(ap);
  for (uint32_t i = 0; i < n; i++)
    if (seen[i].p == params && seen[i].r == results && !memcmp(seen[i].types, t, 24)) return i;
  if (n == 128 || params + results > 24) __builtin_trap(); /* more than this module has */
  seen[n].p = params; seen[n].r = results; memcpy(seen[n].types, t, 24);
  return n++;
}

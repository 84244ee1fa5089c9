/* WAMR binding of the C host: build/firmware.wasm loaded by WAMR 2.4.5
 * (interpreter chosen at build time, boards/wamr/CMakeLists.txt), the
 * imports of module "lwm2m_v1" registered with wasm_runtime_register_natives.
 * Signatures use plain i32 ("(iii)i"), never WAMR's "*~" pointer checks: the
 * host checks every pointer and length itself (boards/host-c/abi.c) and
 * answers Invalid, where WAMR's checks would trap. The firmware's own
 * env.abort (debug builds) is registered too and ends the call like fatal.
 * Runtime memory comes from one pool (--pool-kib), so its high-water mark is
 * what a board must reserve. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "wasm_export.h"
#include "lwm2m_host.h"

#ifndef LWM2M_AOT_FILE
#define LWM2M_AOT_FILE "build/boards/firmware.aot" /* wamrc's output for this machine (scripts/build-boards.mjs) */
#endif

static lwm2m_host g_host;
static uint8_t *g_wasm;
static uint32_t g_wasm_size;
static wasm_module_t g_module;
static wasm_module_inst_t g_inst;
static wasm_exec_env_t g_env;
static wasm_function_inst_t g_funcs[FW_EXPORT_COUNT];
static uint32_t g_stack_size = 8 * 1024;
/* pool bytes in use after the module's load and after its (first) instantiation: what stays
 * allocated while the firmware runs (the peak also holds the loader's temporaries) */
static uint32_t g_pool_loaded, g_pool_running;

static uint32_t pool_in_use(void) {
  mem_alloc_info_t info;
  return wasm_runtime_get_mem_alloc_info(&info) ? info.total_size - info.total_free_size : 0;
}

static lwm2m_mem mem_of(wasm_module_inst_t inst) {
  lwm2m_mem v = { NULL, 0 };
  wasm_memory_inst_t m = inst ? wasm_runtime_get_default_memory(inst) : NULL;
  if (m) {
    v.base = wasm_memory_get_base_address(m);
    v.size = (uint64_t)wasm_memory_get_cur_page_count(m) * wasm_memory_get_bytes_per_page(m);
  }
  return v;
}
#define H(env) &g_host, mem_of(wasm_runtime_get_module_inst(env))

static int32_t n_net_open(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c) { return lwm2m_abi_net_open(H(e), a, b, c); }
static void n_net_close(wasm_exec_env_t e, uint32_t a) { lwm2m_abi_net_close(H(e), a); }
static int32_t n_net_send(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c) { return lwm2m_abi_net_send(H(e), a, b, c); }
static int64_t n_clock_monotonic_ms(wasm_exec_env_t e) { return lwm2m_abi_clock_monotonic_ms(H(e)); }
static int64_t n_clock_wall_seconds(wasm_exec_env_t e) { return lwm2m_abi_clock_wall_seconds(H(e)); }
static int32_t n_rng_fill(wasm_exec_env_t e, uint32_t a, uint32_t b) { return lwm2m_abi_rng_fill(H(e), a, b); }
static int32_t n_se_generate_p256(wasm_exec_env_t e, uint32_t a, uint32_t b) { return lwm2m_abi_se_generate_p256(H(e), a, b); }
static int32_t n_se_import_p256(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return lwm2m_abi_se_import_p256(H(e), a, b, c, d); }
static int32_t n_se_public_key(wasm_exec_env_t e, uint32_t a, uint32_t b) { return lwm2m_abi_se_public_key(H(e), a, b); }
static int32_t n_se_sign_digest(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c) { return lwm2m_abi_se_sign_digest(H(e), a, b, c); }
static int32_t n_se_ecdh(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return lwm2m_abi_se_ecdh(H(e), a, b, c, d); }
static int32_t n_se_verify_digest(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return lwm2m_abi_se_verify_digest(H(e), a, b, c, d); }
static int32_t n_se_destroy(wasm_exec_env_t e, uint32_t a) { return lwm2m_abi_se_destroy(H(e), a); }
static int32_t n_se_seal(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t f, uint32_t g) { return lwm2m_abi_se_seal(H(e), a, b, c, d, f, g); }
static int32_t n_se_open(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t f, uint32_t g) { return lwm2m_abi_se_open(H(e), a, b, c, d, f, g); }
static int64_t n_se_counter(wasm_exec_env_t e, uint32_t a) { return lwm2m_abi_se_counter(H(e), a); }
static int32_t n_flash_size(wasm_exec_env_t e) { return lwm2m_abi_flash_size(H(e)); }
static int32_t n_flash_sector_size(wasm_exec_env_t e) { return lwm2m_abi_flash_sector_size(H(e)); }
static int32_t n_flash_read(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c) { return lwm2m_abi_flash_read(H(e), a, b, c); }
static int32_t n_flash_program(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c) { return lwm2m_abi_flash_program(H(e), a, b, c); }
static int32_t n_flash_erase_sector(wasm_exec_env_t e, uint32_t a) { return lwm2m_abi_flash_erase_sector(H(e), a); }
static void n_log_write(wasm_exec_env_t e, uint32_t a, uint32_t b, uint32_t c) { lwm2m_abi_log_write(H(e), a, b, c); }
static void n_fatal(wasm_exec_env_t e, uint32_t a, uint32_t b) { lwm2m_abi_fatal(H(e), a, b); }
/* AssemblyScript's env.abort(message, file, line, column): a firmware bug; the call ends as after fatal. */
static void n_abort(wasm_exec_env_t e, uint32_t msg, uint32_t file, uint32_t line, uint32_t col) {
  lwm2m_abi_fatal(H(e), 1, line);
  wasm_runtime_set_exception(wasm_runtime_get_module_inst(e), "env.abort");
}

#define N(name, sig) { #name, (void *)n_##name, sig, NULL }
static NativeSymbol g_natives[] = {
  N(net_open, "(iii)i"), N(net_close, "(i)"), N(net_send, "(iii)i"), N(clock_monotonic_ms, "()I"),
  N(clock_wall_seconds, "()I"), N(rng_fill, "(ii)i"), N(se_generate_p256, "(ii)i"), N(se_import_p256, "(iiii)i"),
  N(se_public_key, "(ii)i"), N(se_sign_digest, "(iii)i"), N(se_ecdh, "(iiii)i"), N(se_verify_digest, "(iiii)i"),
  N(se_destroy, "(i)i"), N(se_seal, "(iiiiii)i"), N(se_open, "(iiiiii)i"), N(se_counter, "(i)I"),
  N(flash_size, "()i"), N(flash_sector_size, "()i"), N(flash_read, "(iii)i"), N(flash_program, "(iii)i"),
  N(flash_erase_sector, "(i)i"), N(log_write, "(iii)"), N(fatal, "(ii)"),
};
static NativeSymbol g_env_natives[] = { N(abort, "(iiii)") };

static void unload(void) {
  if (g_env) wasm_runtime_destroy_exec_env(g_env);
  if (g_inst) wasm_runtime_deinstantiate(g_inst);
  g_env = NULL; g_inst = NULL;
}

static int wamr_instantiate(lwm2m_fw *fw) {
  char err[128];
  unload();
  g_host.fatal = 0;
  g_inst = wasm_runtime_instantiate(g_module, g_stack_size, 0, err, sizeof err);
  if (!g_inst) { fprintf(stderr, "WAMR: %s\n", err); return -1; }
  g_env = wasm_runtime_create_exec_env(g_inst, g_stack_size);
  if (!g_env) { fprintf(stderr, "WAMR: exec env with a %u-byte wasm stack: allocate memory failed\n", (unsigned)g_stack_size); return -1; }
  for (int i = 0; i < FW_EXPORT_COUNT; i++) {
    g_funcs[i] = wasm_runtime_lookup_function(g_inst, lwm2m_export_names[i]);
    if (!g_funcs[i]) { fprintf(stderr, "WAMR: the firmware has no export %s\n", lwm2m_export_names[i]); return -1; }
  }
  if (!g_pool_running) g_pool_running = pool_in_use();
  return 0;
}

static lwm2m_mem wamr_memory(lwm2m_fw *fw) { return mem_of(g_inst); }

static int wamr_call(lwm2m_fw *fw, lwm2m_export e, const int64_t *a, int64_t *ret) {
  wasm_val_t args[4], res[1];
  const char *sig = lwm2m_export_sigs[e];
  uint32_t n = 0;
  for (; sig[n] != ':'; n++) {
    if (sig[n] == 'I') { args[n].kind = WASM_I64; args[n].of.i64 = a[n]; }
    else { args[n].kind = WASM_I32; args[n].of.i32 = (int32_t)a[n]; }
  }
  char rk = sig[n + 1];
  res[0].kind = rk == 'I' ? WASM_I64 : WASM_I32;
  if (!wasm_runtime_call_wasm_a(g_env, g_funcs[e], rk == 'v' ? 0 : 1, res, n, args)) {
    const char *ex = wasm_runtime_get_exception(g_inst);
    if (!g_host.fatal) fprintf(stderr, "WAMR exception: %s\n", ex ? ex : "?");
    wasm_runtime_clear_exception(g_inst);
    return -1;
  }
  *ret = rk == 'v' ? 0 : rk == 'I' ? res[0].of.i64 : (int64_t)res[0].of.i32;
  return 0;
}

static uint8_t *read_all(const char *path, uint32_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
  fclose(f);
  *size = (uint32_t)n;
  return b;
}

static const char *opt(int argc, char **argv, const char *name, const char *fallback) {
  for (int i = 0; i + 1 < argc; i++) if (!strcmp(argv[i], name)) return argv[i + 1];
  return fallback;
}

int main(int argc, char **argv) {
  const char *interp = opt(argc, argv, "--interp", LWM2M_INTERP);
  if (strcmp(interp, LWM2M_INTERP) != 0) { fprintf(stderr, "this binary is WAMR %s; run build/boards/lwm2m-wamr --interp %s\n", LWM2M_INTERP, interp); return 2; }
  const char *path = opt(argc, argv, "--firmware", strcmp(LWM2M_INTERP, "aot") ? "build/firmware.wasm" : LWM2M_AOT_FILE);
  uint32_t pool_kib = (uint32_t)atoi(opt(argc, argv, "--pool-kib", "768"));
  g_stack_size = (uint32_t)atoi(opt(argc, argv, "--wasm-stack", "8192"));
  static char *pool;
  pool = malloc((size_t)pool_kib * 1024);
  RuntimeInitArgs init;
  memset(&init, 0, sizeof init);
  init.mem_alloc_type = Alloc_With_Pool;
  init.mem_alloc_option.pool.heap_buf = pool;
  init.mem_alloc_option.pool.heap_size = pool_kib * 1024;
  if (!pool || !wasm_runtime_full_init(&init)) { fprintf(stderr, "WAMR: runtime init failed\n"); return 1; }
  if (!wasm_runtime_register_natives("lwm2m_v1", g_natives, sizeof g_natives / sizeof g_natives[0])
      || !wasm_runtime_register_natives("env", g_env_natives, 1)) { fprintf(stderr, "WAMR: cannot register natives\n"); return 1; }
  g_wasm = read_all(path, &g_wasm_size);
  if (!g_wasm) { fprintf(stderr, "no firmware at %s: run 'npm run build' first\n", path); return 2; }
  char err[128];
  g_module = wasm_runtime_load(g_wasm, g_wasm_size, err, sizeof err);
  if (!g_module) { fprintf(stderr, "WAMR: %s\n", err); return 1; }
  g_pool_loaded = pool_in_use();
  char name[32];
  snprintf(name, sizeof name, strcmp(LWM2M_INTERP, "aot") ? "WAMR %s-interp" : "WAMR %s", LWM2M_INTERP);
  lwm2m_fw fw = { name, wamr_instantiate, wamr_call, wamr_memory, NULL };
  /* the binding's own options go; the rest is the host's command line */
  char **args = calloc((size_t)argc + 1, sizeof *args);
  int n = 0, stats = 0;
  for (int i = 0; i < argc; i++) {
    if ((!strcmp(argv[i], "--interp") || !strcmp(argv[i], "--firmware") || !strcmp(argv[i], "--pool-kib")
         || !strcmp(argv[i], "--wasm-stack")) && i + 1 < argc) { i++; continue; }
    if (!strcmp(argv[i], "--stats")) stats = 1;
    args[n++] = argv[i];
  }
  int r = lwm2m_main(&g_host, &fw, n, args);
  if (stats) {
    mem_alloc_info_t info;
    if (wasm_runtime_get_mem_alloc_info(&info))
      printf("WAMR pool: %u bytes, peak used %u bytes, in use after load %u bytes, after instantiation %u bytes\n",
             info.total_size, info.highmark_size, g_pool_loaded, g_pool_running);
    if (g_env) wasm_runtime_dump_mem_consumption(g_env);
  }
  free(args);
  unload();
  wasm_runtime_unload(g_module);
  wasm_runtime_destroy();
  free(g_wasm);
  return r;
}

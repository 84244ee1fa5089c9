/* The device: command line, factory provisioning and the event loop, with
 * the options and output of `lwm2m-wasm device` / `lwm2m-wasm boot`
 * (host-shim/node/cli.ts, device.ts) for NoSec and DTLS-PSK. The host owns
 * the loop: poll(2) on the peers' sockets until the firmware's deadline,
 * datagrams into rx_buffer, timer_fired at the deadline, the client's events
 * printed as the Node device prints them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "lwm2m_host.h"
#include "provision.h"

const char *const lwm2m_export_names[FW_EXPORT_COUNT] = {
  "_initialize", "abi_version", "rx_buffer", "rx_capacity", "init", "datagram_received", "timer_fired",
  "boot_status", "poll", "shutdown", "config_buffer", "config_capacity", "provision_begin",
  "provision_write", "provision_finish", "provision_abort", "provisioned", "config_error", "host_request",
  "event_next", "event_ssid", "event_arg", "event_text", "event_text_len", "client_state",
};
const char *const lwm2m_export_sigs[FW_EXPORT_COUNT] = {
  ":v", ":i", ":i", ":i", "I:I", "iiI:I", "I:I",
  ":i", "I:I", "I:I", ":i", ":i", ":i",
  "iiii:i", "iiI:i", "I:i", ":i", ":i", ":i",
  ":i", ":i", ":i", ":i", ":i", "i:i",
};

static const char *const EVENTS[] = {
  "", "bootstrapRequested", "bootstrapped", "bootstrapFailed", "registered", "registrationFailed", "updated",
  "deregistered", "notification", "observed", "observeCancelled", "disabled", "reboot", "factoryReset",
  "bootstrapRefused", "insecure",
};
#define EVENT_COUNT (int)(sizeof EVENTS / sizeof EVENTS[0])

static volatile sig_atomic_t quit_requested;
static void on_signal(int sig) { (void)sig; quit_requested = 1; }

static void out_line(const char *tag, const char *text) {
  char t[16];
  snprintf(t, sizeof t, "[%s]", tag);
  printf("%-8s %s\n", t, text);
}

typedef struct {
  lwm2m_host *h;
  lwm2m_fw *fw;
  int64_t deadline;
  int dead; /* trapped, or power lost */
} device;

static int64_t call(device *d, lwm2m_export e, int64_t a0, int64_t a1, int64_t a2, int64_t a3) {
  int64_t args[4] = { a0, a1, a2, a3 }, ret = 0;
  if (d->dead) return -1;
  if (d->fw->call(d->fw, e, args, &ret) != 0) {
    char msg[160];
    if (d->h->fatal) snprintf(msg, sizeof msg, "FATAL: firmware fatal error %d at line %d (a device reset on a board)", d->h->fatal_code, d->h->fatal_line);
    else snprintf(msg, sizeof msg, "FATAL: the firmware trapped in %s (%s)", lwm2m_export_names[e], d->fw->runtime);
    out_line("error", msg);
    d->dead = 1;
    return -1;
  }
  if (d->h->flash.lost && !d->dead) {
    printf("power lost during flash %s at 0x%x\n", d->h->flash.lost_kind, d->h->flash.lost_addr);
    d->dead = 1;
  }
  return ret;
}

static void describe(char *out, size_t cap, int k, int ssid, int arg, const char *text) {
  const char *name = EVENTS[k];
  if (!strcmp(name, "registered")) snprintf(out, cap, "registered (ssid %d) at %s, lifetime %d s", ssid, text, arg);
  else if (!strcmp(name, "updated")) snprintf(out, cap, "registration updated (ssid %d)", ssid);
  else if (!strcmp(name, "deregistered")) snprintf(out, cap, "de-registered (ssid %d)", ssid);
  else if (!strcmp(name, "notification")) snprintf(out, cap, "notification #%d sent for %s (ssid %d)", arg, text, ssid);
  else if (!strcmp(name, "observed")) snprintf(out, cap, "observation started on %s (ssid %d)", text, ssid);
  else if (!strcmp(name, "observeCancelled")) snprintf(out, cap, "observation ended on %s (ssid %d)", text, ssid);
  else if (!strcmp(name, "bootstrapRequested")) snprintf(out, cap, "Bootstrap-Request sent");
  else if (!strcmp(name, "bootstrapped")) snprintf(out, cap, "bootstrap finished: configuration committed");
  else if (!strcmp(name, "bootstrapFailed")) snprintf(out, cap, "bootstrap failed (%d)", arg);
  else if (!strcmp(name, "bootstrapRefused")) snprintf(out, cap, "Bootstrap-Finish refused: configuration error %d, previous configuration kept", arg);
  else if (!strcmp(name, "registrationFailed")) snprintf(out, cap, "registration failed (ssid %d, %d)", ssid, arg);
  else if (!strcmp(name, "insecure")) snprintf(out, cap, "INSECURE NoSec channel to %s", text);
  else snprintf(out, cap, "%s %d %d %s", name, ssid, arg, text);
}

static int boot(device *d);

/* After each call: the events, then a Reboot / Factory Reset request (the response went out in this call). */
static void drain(device *d) {
  for (int guard = 0; guard < 1000 && !d->dead; guard++) {
    int k = (int)call(d, FW_EVENT_NEXT, 0, 0, 0, 0);
    if (k <= 0 || d->dead) break;
    if (k >= EVENT_COUNT) continue;
    int ssid = (int)call(d, FW_EVENT_SSID, 0, 0, 0, 0), arg = (int)call(d, FW_EVENT_ARG, 0, 0, 0, 0);
    uint32_t tp = (uint32_t)call(d, FW_EVENT_TEXT, 0, 0, 0, 0), tl = (uint32_t)call(d, FW_EVENT_TEXT_LEN, 0, 0, 0, 0);
    lwm2m_mem m = d->fw->memory(d->fw);
    char text[512] = "";
    if ((uint64_t)tp + tl <= m.size) lwm2m_log_decode(d->h, m.base + tp, tl, text, sizeof text);
    char line[700];
    describe(line, sizeof line, k, ssid, arg, text);
    out_line("event", line);
  }
  if (d->dead) return;
  if (call(d, FW_HOST_REQUEST, 0, 0, 0, 0) != 0 && !d->dead) {
    lwm2m_net_close_all(&d->h->net);
    if (d->fw->instantiate(d->fw) != 0) { out_line("error", "cannot restart the firmware"); d->dead = 1; return; }
    boot(d);
    out_line("event", "firmware restarted");
  }
}

static void step(device *d, lwm2m_export e, int64_t a0, int64_t a1, int64_t a2) {
  int64_t dl = call(d, e, a0, a1, a2, 0);
  if (d->dead) return;
  d->deadline = dl;
  drain(d);
}

static int boot(device *d) {
  if (call(d, FW_ABI_VERSION, 0, 0, 0, 0) != LWM2M_ABI_VERSION) { out_line("error", "firmware speaks another ABI version"); d->dead = 1; return 0; }
  call(d, FW_INITIALIZE, 0, 0, 0, 0);
  step(d, FW_INIT, lwm2m_monotonic_ms(), 0, 0);
  return d->dead ? 0 : (int)call(d, FW_BOOT_STATUS, 0, 0, 0, 0);
}

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }

/* Writes one object's TLV through config_buffer; returns the CoAP code. */
static int provision_write(device *d, int oid, lwm2m_buf *p) {
  uint32_t cb = (uint32_t)call(d, FW_CONFIG_BUFFER, 0, 0, 0, 0), cap = (uint32_t)call(d, FW_CONFIG_CAPACITY, 0, 0, 0, 0);
  lwm2m_mem m = d->fw->memory(d->fw);
  if (p->overflow || p->n > cap || (uint64_t)cb + p->n > m.size) return 0x8d; /* 4.13 */
  memcpy(m.base + cb, p->b, p->n);
  int code = (int)call(d, FW_PROVISION_WRITE, oid, 0xffff, 11542, (int64_t)p->n);
  m = d->fw->memory(d->fw);
  memset(m.base + cb, 0, p->n); /* keys do not linger in the shared buffer */
  return code;
}

static int provision(device *d, const lwm2m_config *c) {
  lwm2m_buf sec, srv;
  lwm2m_factory_tlv(c, &sec, &srv);
  int code = (int)call(d, FW_PROVISION_BEGIN, 0, 0, 0, 0);
  const char *stepname = "begin";
  if (code == 0x42) { stepname = "/0"; code = provision_write(d, 0, &sec); }
  memset(sec.b, 0, sec.n);
  if (code == 0x44 && !c->bootstrap) { stepname = "/1"; code = provision_write(d, 1, &srv); }
  int ok_writes = code == 0x44;
  if (ok_writes) {
    stepname = "finish";
    size_t ep = strlen(c->endpoint);
    uint32_t cb = (uint32_t)call(d, FW_CONFIG_BUFFER, 0, 0, 0, 0), cap = (uint32_t)call(d, FW_CONFIG_CAPACITY, 0, 0, 0, 0);
    lwm2m_mem m = d->fw->memory(d->fw);
    if (ep > cap || (uint64_t)cb + ep > m.size) code = 0x80;
    else {
      memcpy(m.base + cb, c->endpoint, ep);
      int flags = c->bootstrap && !c->low_entropy ? 1 : 0;
      code = (int)call(d, FW_PROVISION_FINISH, (int64_t)ep, flags, lwm2m_monotonic_ms(), 0);
    }
  }
  if (code != 0x44) {
    int cfg_err = strcmp(stepname, "finish") == 0 ? (int)call(d, FW_CONFIG_ERROR, 0, 0, 0, 0) : 0;
    fprintf(stderr, "provisioning refused at %s: CoAP %d.%02d", stepname, code >> 5, code & 31);
    if (cfg_err) fprintf(stderr, " (config error %d)", cfg_err);
    fprintf(stderr, "\n");
    if (!ok_writes) call(d, FW_PROVISION_ABORT, lwm2m_monotonic_ms(), 0, 0, 0);
    step(d, FW_POLL, lwm2m_monotonic_ms(), 0, 0);
    return -1;
  }
  step(d, FW_POLL, lwm2m_monotonic_ms(), 0, 0);
  return 0;
}

/* ---- the loop ---- */
/* One datagram; MSG_TRUNC reports the real length of a longer one, which is dropped (ABI.md). */
static uint8_t rxbuf[2048];

static void receive(device *d, int peer) {
  for (;;) {
    ssize_t n = recv(d->h->net.fd[peer], rxbuf, sizeof rxbuf, MSG_TRUNC);
    if (n < 0) return; /* EAGAIN, or an ICMP error the peer will retransmit past */
    d->h->net.received_bytes += (uint64_t)n;
    d->h->net.received_datagrams++;
    uint32_t cap = (uint32_t)call(d, FW_RX_CAPACITY, 0, 0, 0, 0), at = (uint32_t)call(d, FW_RX_BUFFER, 0, 0, 0, 0);
    lwm2m_mem m = d->fw->memory(d->fw);
    if ((size_t)n > sizeof rxbuf || (uint32_t)n > cap || (uint64_t)at + (uint64_t)n > m.size) { d->h->net.dropped_oversize++; continue; }
    memcpy(m.base + at, rxbuf, (size_t)n);
    step(d, FW_DATAGRAM_RECEIVED, peer, n, lwm2m_monotonic_ms());
    if (d->dead || !d->h->net.used[peer] || d->h->net.fd[peer] < 0) return;
  }
}

/* Runs until quit (then de-registers for at most 3 s, as the Node CLI) or the device dies. */
static void run(device *d) {
  int shutting = 0;
  int64_t shutdown_started = 0;
  while (!d->dead) {
    if (quit_requested && !shutting) {
      shutting = 1;
      out_line("info", "shutting down: de-registering");
      shutdown_started = lwm2m_monotonic_ms();
      step(d, FW_SHUTDOWN, shutdown_started, 0, 0);
      continue;
    }
    int64_t now = lwm2m_monotonic_ms();
    if (shutting && (d->deadline < 0 || now - shutdown_started > 3000)) return;
    if (d->deadline >= 0 && d->deadline <= now) { step(d, FW_TIMER_FIRED, now, 0, 0); continue; }
    struct pollfd fds[NET_MAX_PEERS];
    int peer_of[NET_MAX_PEERS], nfds = 0;
    for (int i = 0; i < NET_MAX_PEERS; i++) {
      if (d->h->net.used[i] && d->h->net.fd[i] >= 0) { fds[nfds].fd = d->h->net.fd[i]; fds[nfds].events = POLLIN; fds[nfds].revents = 0; peer_of[nfds++] = i; }
    }
    int64_t wait = d->deadline < 0 ? 200 : d->deadline - now;
    if (wait > 200) wait = 200; /* signals are checked at least this often */
    int r = poll(fds, (nfds_t)nfds, (int)wait);
    if (r < 0 && errno != EINTR) { perror("poll"); return; }
    for (int i = 0; r > 0 && i < nfds && !d->dead; i++) if (fds[i].revents & (POLLIN | POLLERR)) receive(d, peer_of[i]);
  }
}

/* ---- command line ---- */
static const char *option(int argc, char **argv, const char *name, const char *fallback) {
  for (int i = 0; i + 1 < argc; i++) if (!strcmp(argv[i], name)) return argv[i + 1];
  return fallback;
}
static int flag(int argc, char **argv, const char *name) {
  for (int i = 0; i < argc; i++) if (!strcmp(argv[i], name)) return 1;
  return 0;
}

static const char USAGE[] =
  "usage: %s <command> [options]\n"
  "  boot [--state DIR]    boot the firmware and print each step\n"
  "  device --endpoint EP (--bootstrap URI | --server URI) [--lifetime S] [--state DIR]\n"
  "         [--ssid N] [--hold-off S] [--reprovision] [--psk-identity ID --psk-key HEX [--low-entropy]]\n"
  "                        run the LwM2M device: coap:// = NoSec, coaps:// = DTLS-PSK; Ctrl-C de-registers\n"
  "  common: [--interp classic|fast] (WAMR) [--log-level 0-3] [--log-dict FILE] [--power-cut-after N] [--entropy stuck:BYTE]\n"
  "          [--provision-only] (exit once the configuration is committed) [--stats]\n";

static int setup(lwm2m_host *h, const char *state, int argc, char **argv) {
  static uint8_t stuck;
  const char *ent = option(argc, argv, "--entropy", "os");
  lwm2m_entropy_source src = lwm2m_entropy_os();
  if (!strncmp(ent, "stuck:", 6)) { stuck = (uint8_t)strtoul(ent + 6, NULL, 0); src = lwm2m_entropy_stuck(&stuck); }
  else if (strcmp(ent, "os") != 0) { fprintf(stderr, "--entropy os|stuck:BYTE\n"); return 2; }
  lwm2m_rng_init(&h->rng, src, 0); /* a health failure shows in boot_status (bit 0) and as RngHealth */
  if (state && mkdir(state, 0700) != 0 && errno != EEXIST) { perror(state); return 1; }
  if (lwm2m_se_init(&h->se, state) != 0) return 1;
  char path[1100];
  if (state) snprintf(path, sizeof path, "%s/flash.img", state);
  if (lwm2m_flash_init(&h->flash, state ? path : NULL, 64 * 1024, 4096) != 0) return 1;
  const char *cut = option(argc, argv, "--power-cut-after", NULL);
  if (cut) lwm2m_flash_cut_power_after(&h->flash, (uint32_t)strtoul(cut, NULL, 10), strtoull(option(argc, argv, "--cut-seed", "1"), NULL, 0));
  lwm2m_net_init(&h->net);
  h->log_level_max = atoi(option(argc, argv, "--log-level", "3"));
  /* the firmware's log dictionary: --log-dict FILE, else $LWM2M_LOG_DICT, else the one built beside the module */
  const char *dict = option(argc, argv, "--log-dict", getenv("LWM2M_LOG_DICT"));
#ifdef LWM2M_LOG_DICT_DEFAULT
  if (!dict && access(LWM2M_LOG_DICT_DEFAULT, R_OK) == 0) dict = LWM2M_LOG_DICT_DEFAULT;
#endif
  if (dict && lwm2m_log_dictionary_load(h, dict) != 0) return 1;
  return 0;
}

static void print_stats(device *d) {
  printf("flash ops: %llu programs, %llu erases, %llu reads\n", (unsigned long long)d->h->flash.programs,
         (unsigned long long)d->h->flash.erases, (unsigned long long)d->h->flash.reads);
}

int lwm2m_main(lwm2m_host *h, lwm2m_fw *fw, int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *prog = argv[0];
  if (argc < 2 || flag(argc, argv, "-h") || flag(argc, argv, "--help")) { printf(USAGE, prog); return argc < 2 ? 2 : 0; }
  const char *cmd = argv[1];
  if (strcmp(cmd, "boot") != 0 && strcmp(cmd, "device") != 0) { fprintf(stderr, "unknown command '%s'\n", cmd); fprintf(stderr, USAGE, prog); return 2; }
  const char *state = option(argc, argv, "--state", "state");
  lwm2m_config c = { 0 };
  int have_cfg = 0;
  if (!strcmp(cmd, "device") && option(argc, argv, "--endpoint", NULL)) {
    c.endpoint = option(argc, argv, "--endpoint", NULL);
    const char *bs = option(argc, argv, "--bootstrap", NULL), *server = option(argc, argv, "--server", NULL);
    const char *err = NULL;
    if (!bs == !server) err = "give exactly one of --bootstrap URI and --server URI";
    c.uri = bs ? bs : server;
    c.bootstrap = bs != NULL;
    if (!err && strncmp(c.uri, "coap://", 7) != 0 && strncmp(c.uri, "coaps://", 8) != 0) err = "not a coap:// or coaps:// URI";
    c.psk_identity = option(argc, argv, "--psk-identity", NULL);
    c.psk_key_hex = option(argc, argv, "--psk-key", NULL);
    if (!err && !strncmp(c.uri, "coaps://", 8)) {
      size_t kl = c.psk_key_hex ? strlen(c.psk_key_hex) : 0;
      int hexok = kl > 0 && kl % 2 == 0 && kl <= 128;
      for (size_t i = 0; hexok && i < kl; i++) hexok = hexval(c.psk_key_hex[i]) >= 0;
      if (!c.psk_identity || !c.psk_key_hex) err = "a coaps:// URI needs --psk-identity ID --psk-key HEX (this host provisions NoSec and DTLS-PSK)";
      else if (!hexok || !c.psk_identity[0]) err = "--psk-identity ID --psk-key HEX go together";
    } else if (!err) c.psk_identity = NULL;
    c.low_entropy = flag(argc, argv, "--low-entropy");
    c.ssid = atoi(option(argc, argv, "--ssid", "1"));
    c.lifetime = atol(option(argc, argv, "--lifetime", "300"));
    c.hold_off = atol(option(argc, argv, "--hold-off", "0"));
    if (err) { fprintf(stderr, "lwm2m device: %s\n", err); fprintf(stderr, USAGE, prog); return 2; }
    have_cfg = 1;
  }
  int st = setup(h, state, argc, argv);
  if (st != 0) return st;
  if (fw->instantiate(fw) != 0) { fprintf(stderr, "cannot instantiate the firmware (%s)\n", fw->runtime); return 1; }
  device d = { .h = h, .fw = fw, .deadline = -1 };
  if (!strcmp(cmd, "boot")) printf("lwm2m-wasm on %s: booting (state in %s/)\n", fw->runtime, state);
  int status = boot(&d);
  const int all = 7;
  if (!strcmp(cmd, "boot")) {
    printf("boot status: DRBG %s, SE %s, flash %s\n", status & 1 ? "ok" : "FAILED", status & 2 ? "ok" : "FAILED", status & 4 ? "ok" : "FAILED");
    printf("provisioned: %d\n", d.dead ? -1 : (int)call(&d, FW_PROVISIONED, 0, 0, 0, 0));
    if (flag(argc, argv, "--stats")) print_stats(&d);
    return d.dead ? 1 : (status & all) == all ? 0 : 1;
  }
  if (d.dead) return h->flash.lost ? 3 : 1;
  if ((status & all) != all) { fprintf(stderr, "boot failed\n"); return 1; }
  if (call(&d, FW_PROVISIONED, 0, 0, 0, 0) == 1 && !flag(argc, argv, "--reprovision")) {
    printf("using the configuration stored in %s/ (--reprovision replaces it with the flags)\n", state);
  } else if (!have_cfg) {
    fprintf(stderr, "no stored configuration in %s/: give --endpoint and --bootstrap or --server\n", state);
    return 2;
  } else if (provision(&d, &c) != 0) {
    if (d.dead) return h->flash.lost ? 3 : 1;
    return 1;
  }
  if (flag(argc, argv, "--provision-only")) {
    if (flag(argc, argv, "--stats")) print_stats(&d);
    return d.dead ? (h->flash.lost ? 3 : 1) : 0;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  run(&d);
  lwm2m_net_close_all(&h->net);
  if (flag(argc, argv, "--stats")) print_stats(&d);
  if (d.dead) return h->flash.lost ? 3 : 1;
  return 0;
}

/* UDP on POSIX sockets behind the net_* imports (host-shim/node/net.ts):
 * one connected, non-blocking socket per peer handle, so the kernel drops
 * datagrams from anyone but the peer; device.c polls the sockets. */
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <netdb.h>
#include <unistd.h>
#include <sys/socket.h>
#include "lwm2m_host.h"

void lwm2m_net_init(lwm2m_net *n) {
  memset(n, 0, sizeof *n);
  for (int i = 0; i < NET_MAX_PEERS; i++) n->fd[i] = -1;
}

int32_t lwm2m_net_open(lwm2m_net *n, const char *host, int32_t port) {
  if (!host[0] || port <= 0 || port > 65535) return LWM2M_INVALID;
  int h = 0;
  while (h < NET_MAX_PEERS && n->used[h]) h++;
  if (h == NET_MAX_PEERS) return LWM2M_IO;
  char bare[256], service[8];
  size_t len = strlen(host);
  if (len >= sizeof bare) return LWM2M_INVALID;
  if (host[0] == '[' && len >= 2 && host[len - 1] == ']') { memcpy(bare, host + 1, len - 2); bare[len - 2] = 0; }
  else memcpy(bare, host, len + 1);
  snprintf(service, sizeof service, "%d", (int)port);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  n->used[h] = 1;
  n->failed[h] = 1; /* until connected: sends answer Io (as a failed resolution in the Node host) */
  n->fd[h] = -1;
  if (getaddrinfo(bare, service, &hints, &res) == 0 && res) {
    int fd = socket(res->ai_family, SOCK_DGRAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      fcntl(fd, F_SETFD, FD_CLOEXEC);
      n->fd[h] = fd;
      n->failed[h] = 0;
    } else if (fd >= 0) close(fd);
    freeaddrinfo(res);
  }
  return h;
}

int32_t lwm2m_net_send(lwm2m_net *n, int32_t peer, const uint8_t *data, size_t len) {
  if (peer < 0 || peer >= NET_MAX_PEERS || !n->used[peer]) return LWM2M_INVALID;
  if (n->failed[peer]) return LWM2M_IO;
  if (send(n->fd[peer], data, len, 0) != (ssize_t)len) return LWM2M_IO; /* fire and forget: a lost datagram is the protocol's business */
  n->sent_bytes += len;
  n->sent_datagrams++;
  return LWM2M_OK;
}

void lwm2m_net_close(lwm2m_net *n, int32_t peer) {
  if (peer < 0 || peer >= NET_MAX_PEERS || !n->used[peer]) return;
  if (n->fd[peer] >= 0) close(n->fd[peer]);
  n->fd[peer] = -1;
  n->used[peer] = n->failed[peer] = 0;
}

void lwm2m_net_close_all(lwm2m_net *n) {
  for (int i = 0; i < NET_MAX_PEERS; i++) lwm2m_net_close(n, i);
}

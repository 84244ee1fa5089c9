#!/usr/bin/env bash
# Builds the independent peers that Debian lacks, from the sources in
# ../shared (never downloaded), cached under build/peers/:
#   build/peers/libest/bin/estserver   Cisco libest EST-coaps server (../shared/peers/libest)
# Usage: scripts/build-peers.sh   (a second run with the cache present is a no-op)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED_DIR:-../shared}
if [ ! -x build/peers/libest/bin/estserver ]; then
  echo "build-peers: building libest estserver from $SHARED/peers/libest (1-2 min)"
  bash "$SHARED/peers/libest/build.sh" build/peers/libest
fi
echo "build-peers: libest $(pwd)/build/peers/libest/bin/estserver"

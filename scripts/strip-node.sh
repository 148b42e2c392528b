#!/bin/sh
# Strips the node binary in place for the runtime images (the `node` stage of both Dockerfiles):
# Node's release binary carries debug info and a full symbol table (127 MB, 45 MB gzipped);
# `strip --strip-unneeded` leaves 109 MB (40.5 MB gzipped). The dynamic symbol table, which native
# addons and process.report's native stack use, is kept; JavaScript stacks come from V8, not ELF.
# binutils is installed with apt when strip is missing (the official NODE_IMAGE); CI's local base
# has it (scripts/images.sh), so the offline build runs the same strip.
#   sh scripts/strip-node.sh [NODE]   (default /usr/local/bin/node)
set -eu
node=${1:-/usr/local/bin/node}
if ! command -v strip >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils >/dev/null
  rm -rf /var/lib/apt/lists/*
fi
before=$(wc -c <"$node")
strip --strip-unneeded "$node"
# The stripped binary must still start and load its built-in TLS.
"$node" -e 'require("node:crypto").createHash("sha256"); require("node:tls")'
echo "strip-node: $node $before -> $(wc -c <"$node") bytes" >&2

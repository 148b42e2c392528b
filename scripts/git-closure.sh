#!/bin/sh
# The files the watcher's Git write-back runs, for the -git image: git, its HTTPS helper
# (git-remote-http, git-remote-https), ssh, and the shared libraries they load, nothing else (no
# perl, no shell, no git-core scripts). Glibc, libgcc and libstdc++ are left out: the runtime base
# has them. Also the Debian copyright files of the packages they come from, and /etc/passwd and
# /etc/group with uid 10001 (ssh refuses a uid without an entry).
#   sh scripts/git-closure.sh ROOT OUT
# ROOT is a tree holding Debian's git and openssh-client (`/` in Dockerfile.watcher after apt-get,
# or an mmdebstrap extract in scripts/images.sh, which keeps the .debs); OUT receives the files at
# their paths.
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

copied=$(mktemp)
trap 'rm -f "$copied"' EXIT
copy() { # $1: path inside root, without the leading slash; copied with its links resolved
  mkdir -p "$out/$(dirname "$1")"
  cp -L "$root/$1" "$out/$1"
  # As a package may list it: with or without /usr (merged /usr resolves either).
  printf '%s\n%s\n' "$1" "$(echo "$1" | sed -e 's|^usr/||;t' -e 's|^|usr/|')" >>"$copied"
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

# The packages shipping those files, from dpkg's lists (after apt-get) or the .debs themselves.
owners=$(
  if ls "$root"/var/lib/dpkg/info/*.list >/dev/null 2>&1; then
    sed 's|^|/|' "$copied" | grep -lxF -f - "$root"/var/lib/dpkg/info/*.list | sed -e 's|.*/||' -e 's|\.list$||' -e 's|:.*||'
  else
    for deb in "$root"/var/cache/apt/archives/*.deb; do
      [ -e "$deb" ] || { echo "git-closure: no dpkg lists and no .debs under $root to find the packages" >&2; exit 1; }
      if dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./||' | grep -qxF -f "$copied"; then
        dpkg-deb --field "$deb" Package
      fi
    done
  fi | sort -u
) || exit 1
# One source package's binary packages share one copyright text (Kerberos's four, nettle's two):
# the repeats are links to the first copy, as gzip cannot share text across files that long.
for pkg in $owners; do
  src=$root/usr/share/doc/$pkg/copyright
  [ -f "$src" ] || { echo "git-closure: $pkg has no copyright file" >&2; exit 1; }
  mkdir -p "$out/usr/share/doc/$pkg"
  same=
  for f in "$out"/usr/share/doc/*/copyright; do
    [ -f "$f" ] && [ ! -L "$f" ] && cmp -s "$f" "$src" && { same=${f#"$out/usr/share/doc/"}; break; }
  done
  if [ -n "$same" ]; then ln -s "../$same" "$out/usr/share/doc/$pkg/copyright"; else cp "$src" "$out/usr/share/doc/$pkg/copyright"; fi
done
mkdir -p "$out/etc"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
  'image-watcher:x:10001:10001:image-watcher:/tmp:/sbin/nologin' >"$out/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'image-watcher:x:10001:' >"$out/etc/group"
chmod 644 "$out/etc/passwd" "$out/etc/group"

#!/bin/bash
# Build nginx 1.22.1 (Debian's orig tarball) and ngx_thim with AddressSanitizer
# and UndefinedBehaviorSanitizer into BUILD_DIR/asan, for a second run of the
# test suite.  nginx core does two things on purpose that UBSan reports
# (unaligned loads/stores in its HTTP/2 code, memcpy(dst, NULL, 0) in
# ngx_vslprintf), so those two checks are off; everything else is on.
# Exit 2 when the source cannot be fetched (no such package source here).
# Usage: scripts/build-asan.sh MODULE_DIR BUILD_DIR
set -euo pipefail

mod=$(cd "$1" && pwd)
build=$(mkdir -p "$2" && cd "$2" && pwd)
out=$build/asan
mkdir -p "$out"

tarball=$(ls "$out"/nginx_1.22.1.orig.tar.gz 2>/dev/null || true)

if [ -z "$tarball" ]; then
    # a private apt configuration with a deb-src entry: the system's
    # sources are left as they are
    apt=$out/apt
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/sources"
    cat >"$apt/sources/src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    opts=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$apt/sources"
          -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::archives=$apt/archives"
          -o APT::Sandbox::User=root)
    if ! (cd "$out" && apt-get "${opts[@]}" -qq update >"$out/apt.log" 2>&1 \
          && apt-get "${opts[@]}" -qq source --download-only nginx \
             >>"$out/apt.log" 2>&1) \
       || [ ! -f "$out/nginx_1.22.1.orig.tar.gz" ]
    then
        tail -5 "$out/apt.log" >&2
        exit 2
    fi
    tarball=$out/nginx_1.22.1.orig.tar.gz
fi

# configured already, for the module's current file list: just make
if [ "$out/nginx-1.22.1/objs/Makefile" -nt "$mod/config" ]; then
    make -C "$out/nginx-1.22.1" -j"$(nproc)" >"$out/make.log" 2>&1 \
      || { tail -40 "$out/make.log"; exit 1; }
    exit 0
fi

rm -rf "$out/nginx-1.22.1"
tar xzf "$tarball" -C "$out"
cd "$out/nginx-1.22.1"

san='-fsanitize=address,undefined -fno-sanitize=alignment,nonnull-attribute'

./configure --with-debug --with-compat --with-threads \
    --with-http_ssl_module --with-http_v2_module --with-http_sub_module \
    --with-cc-opt="-O1 -g $san -fno-omit-frame-pointer -DNGX_DEBUG_PALLOC=1" \
    --with-ld-opt="$san" \
    --add-dynamic-module="$mod" >"$out/configure.log" 2>&1 \
  || { tail -30 "$out/configure.log"; exit 1; }

make -j"$(nproc)" >"$out/make.log" 2>&1 || { tail -40 "$out/make.log"; exit 1; }

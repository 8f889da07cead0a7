#!/bin/bash
# Configure the module against Debian's nginx-dev (the exact flags of
# /usr/sbin/nginx, so the .so is binary compatible) into build/objs.
# Usage: scripts/build-module.sh MODULE_DIR BUILD_DIR
set -euo pipefail

mod=$(cd "$1" && pwd)
build=$(mkdir -p "$2" && cd "$2" && pwd)

# configure writes ./Makefile into its working directory, and
# /usr/share/nginx/src is not ours to write: work on a copy.
rm -rf "$build/nginx-src"
cp -a /usr/share/nginx/src "$build/nginx-src"
cd "$build/nginx-src"

. ./conf_flags        # NGX_CONF_FLAGS=(...): Debian's configure flags

./configure \
    --with-cc-opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS)" \
    --with-ld-opt="$(dpkg-buildflags --get LDFLAGS) -fPIC" \
    "${NGX_CONF_FLAGS[@]}" \
    --add-dynamic-module="$mod" \
    --builddir="$build/objs" >"$build/configure.log" 2>&1 \
  || { tail -30 "$build/configure.log"; exit 1; }

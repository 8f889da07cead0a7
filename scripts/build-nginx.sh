#!/bin/bash
# Build an upstream nginx from the vendored source (vendor/nginx) and
# ngx_thim as a dynamic module against it, configured as nginx.org's own
# packages are (nginx -V of an nginx.org build: --with-compat, threads,
# file AIO, SSL, HTTP/2, HTTP/3, stream, mail, ...), with the paths
# under BUILD_DIR/nginx-VERSION (the tests pass -p and -c anyway): the
# module alone for their nginx binary (objs-release), nginx and the
# module for their nginx-debug binary (objs: what the tests run).
# The archive's SHA-256 is checked against vendor/nginx/SHA256SUMS first:
# a mismatch fails the build.
# Usage: scripts/build-nginx.sh VERSION MODULE_DIR BUILD_DIR
set -euo pipefail

version=$1
mod=$(cd "$2" && pwd)
build=$(mkdir -p "$3" && cd "$3" && pwd)
vendor=$mod/vendor/nginx
tarball=nginx-$version.tar.gz
src=$build/nginx-$version
log=$build/nginx-$version.log

[ -f "$vendor/$tarball" ] || { echo "no $vendor/$tarball" >&2; exit 1; }

# configured already, for the module's current file list and these
# flags: just make
if [ -f "$src/objs/Makefile" ] && [ "$src/objs/Makefile" -nt "$mod/config" ] \
   && [ "$src/objs/Makefile" -nt "$vendor/$tarball" ] \
   && [ "$src/objs/Makefile" -nt "$0" ]
then
    { make -C "$src" -f objs-release/Makefile -j"$(nproc)" modules \
      && make -C "$src" -j"$(nproc)"; } >"$log" 2>&1 \
      || { tail -40 "$log"; exit 1; }
    exit 0
fi

(cd "$vendor" && grep " $tarball\$" SHA256SUMS | sha256sum --quiet -c -) \
  || { echo "$tarball: SHA-256 mismatch with vendor/nginx/SHA256SUMS" >&2
       exit 1; }

rm -rf "$src"
tar xzf "$vendor/$tarball" -C "$build"
cd "$src"

# nginx.org's package flags, less the system paths and user
flags=(--prefix="$src" --with-compat --with-file-aio --with-threads
       --with-http_addition_module --with-http_auth_request_module
       --with-http_dav_module --with-http_flv_module
       --with-http_gunzip_module --with-http_gzip_static_module
       --with-http_mp4_module --with-http_random_index_module
       --with-http_realip_module --with-http_secure_link_module
       --with-http_slice_module --with-http_ssl_module
       --with-http_stub_status_module --with-http_sub_module
       --with-http_v2_module --with-http_v3_module
       --with-mail --with-mail_ssl_module
       --with-stream --with-stream_realip_module
       --with-stream_ssl_module --with-stream_ssl_preread_module)

cc_opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS)"
ld_opt="$(dpkg-buildflags --get LDFLAGS) -Wl,--as-needed -pie"

# configure BUILDDIR [ARGS...]: the flags above, with the module; HTTP/3
# needs nginx's QUIC code to build against this OpenSSL, and where it
# does not, the build goes on without it (said loudly)
configure() {
    local builddir=$1 f; shift
    if ! auto/configure "${flags[@]}" "$@" --builddir="$builddir" \
            --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
            --add-dynamic-module="$mod" >>"$log" 2>&1
    then
        echo "nginx $version: configure failed with http_v3, retrying" \
             "without:" >&2
        tail -5 "$log" >&2
        local no_v3=()
        for f in "${flags[@]}"; do
            [ "$f" = --with-http_v3_module ] || no_v3+=("$f")
        done
        flags=("${no_v3[@]}")
        auto/configure "${flags[@]}" "$@" --builddir="$builddir" \
            --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
            --add-dynamic-module="$mod" >>"$log" 2>&1 \
          || { tail -30 "$log"; exit 1; }
    fi
}

: >"$log"

# the module as nginx.org's nginx binary loads it (no debug log): built
# (-Werror) to prove it compiles there, in objs-release
configure objs-release
make -f objs-release/Makefile -j"$(nproc)" modules >>"$log" 2>&1 \
  || { tail -40 "$log"; exit 1; }

# nginx and the module as nginx.org's nginx-debug binary (the same
# configuration --with-debug, as Debian's nginx has it): the suite reads
# debug lines from the error log; in objs, which ./Makefile builds
configure objs --with-debug
make -j"$(nproc)" >>"$log" 2>&1 || { tail -40 "$log"; exit 1; }

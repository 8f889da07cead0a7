#!/bin/bash
# thimctl(1) in roff, from docs/thimctl.md (one source for both): the
# markdown's "## Section" headings become the man page's sections in
# capitals, "### sub" its subsections; go-md2man does the rest.  The
# date is SOURCE_DATE_EPOCH's (dpkg-buildpackage sets it from
# debian/changelog), so the page is reproducible.
# Usage: scripts/thimctl-man.sh docs/thimctl.md >thimctl.1
set -euo pipefail

md=$1
dir=$(dirname "$0")/..
version=$(sed -n 's/^#define THIMCTL_VERSION *"\(.*\)"/\1/p' \
          "$dir/tools/thimctl/thimctl.h")
date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(stat -c %Y "$md")}" '+%B %Y')

{
    printf '%% THIMCTL 1 "%s" "thimctl %s" "User Commands"\n' \
        "$date" "$version"
    sed -e '1{/^# thimctl(1)/d}' \
        -e 's/^## \(.*\)/# \U\1/' \
        -e 's/^### /## /' \
        -e 's/^`thimctl` — /thimctl - /' "$md"
} | go-md2man | sed -e 's/^thimctl - /thimctl \\- /'

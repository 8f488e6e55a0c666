#!/bin/sh
# Copies examples/broken-build to a fresh directory and runs it under tether.
# Usage: examples/demo.sh   (with `tether` on PATH)
set -e
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tether-demo.XXXXXX")
cp "$here/broken-build/build.sh" "$here/broken-build/hello.c" "$here/broken-build/config.ini.example" "$work/"
chmod -x "$work/build.sh"
cd "$work"
echo "\$ cd $work && tether run -- ./build.sh"
exec tether run --home "$work/.tether" -- ./build.sh

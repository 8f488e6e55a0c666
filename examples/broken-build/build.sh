#!/bin/sh
# A small C build that fails three times, for three different real reasons,
# on a fresh checkout: this script is not executable, config.ini does not
# exist (only config.ini.example does), and the output directory out/ is missing.
set -e
echo "build: reading config.ini"
name=$(sed -n 's/^name=//p' config.ini)
cat config.ini >/dev/null
echo "build: compiling hello.c for '$name'"
gcc -O2 -DNAME="\"$name\"" -o out/hello hello.c
./out/hello

#!/bin/sh
# Test stand-in for the official registry:3 image's /entrypoint.sh: a config file argument is served, a
# registry subcommand (or flag) goes to the registry binary, anything else runs as given. Not copied.
set -e
case "$1" in
  *.yaml | *.yml) set -- registry serve "$@" ;;
  serve | garbage-collect | help | -*) set -- registry "$@" ;;
esac
exec "$@"

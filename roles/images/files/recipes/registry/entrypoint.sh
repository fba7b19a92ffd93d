#!/bin/sh
set -e
case "${1:-}" in
  *.yml|*.yaml)
    set -- registry serve "$@" ;;
  serve|garbage-collect|help|-*)
    set -- registry "$@" ;;
esac
exec "$@"

#!/bin/sh
# Start a trayjobs worker on the shared servers named by $TRAYJOBS_REDIS and
# $TRAYJOBS_DATABASE: the first start prepares the history (`trayjobs cluster init`),
# later starts only check it (`join`); the passwords go to the keyring, not the jobs file.
set -eu
: "${TRAYJOBS_REDIS:?set TRAYJOBS_REDIS to redis://:PASSWORD@HOST:6379/0}"
: "${TRAYJOBS_DATABASE:?set TRAYJOBS_DATABASE to postgresql://USER:PASSWORD@HOST/DB}"
tries=0
until trayjobs cluster init --redis "$TRAYJOBS_REDIS" --database "$TRAYJOBS_DATABASE"; do
  tries=$((tries + 1))
  [ "$tries" -ge 30 ] && { echo "trayjobs: the servers did not answer; giving up" >&2; exit 1; }
  sleep 2
done
exec trayjobs worker "$@"

#!/bin/sh
# Start a trayjobs worker on the shared servers named by $TRAYJOBS_REDIS and
# $TRAYJOBS_DATABASE: the first start prepares the history (`trayjobs cluster init`, which
# reads the URLs from the environment, so no password shows in the process list), later
# starts only check it; the passwords go to the keyring file, not the jobs file.
set -eu
if [ "$(id -u)" = 0 ] && id trayjobs >/dev/null 2>&1; then
  # A bind-mounted home that Docker created is root's: give it to the trayjobs user,
  # then go on as that user.
  mkdir -p "$TRAYJOBS_HOME"
  chown -R trayjobs:trayjobs "$TRAYJOBS_HOME"
  exec setpriv --reuid=trayjobs --regid=trayjobs --init-groups env HOME=/home/trayjobs "$0" "$@"
fi
: "${TRAYJOBS_REDIS:?set TRAYJOBS_REDIS to redis://:PASSWORD@HOST:6379/0}"
: "${TRAYJOBS_DATABASE:?set TRAYJOBS_DATABASE to postgresql://USER:PASSWORD@HOST/DB}"
tries=0
until trayjobs cluster init; do
  tries=$((tries + 1))
  if [ "$tries" -ge 20 ]; then
    echo "trayjobs: giving up after $tries tries; the error above says why" >&2
    exit 1
  fi
  sleep 3   # the servers may still be starting
done
exec trayjobs worker "$@"

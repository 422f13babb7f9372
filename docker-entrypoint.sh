#!/bin/sh
# Migrate before serving (idempotent), then hand the process over to the command.
set -e
powercat db upgrade
exec "$@"

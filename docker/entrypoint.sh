#!/bin/sh
# The image's one entry point: run the Procfile process named by the first argument (web, worker,
# beat, flower, ingest). The commands are read from the Procfile itself, so the image and
# `make run` start the same things; `exec` hands the process SIGTERM directly (Celery's warm
# shutdown on a Spot reclaim, gunicorn's graceful stop).
set -eu
procfile="${IMAGEPIPE_PROCFILE:-/app/Procfile}"
name="${1:-web}"
case "$name" in
  *[!a-z]* | "") echo "entrypoint: a Procfile process name, not '$name'" >&2; exit 64 ;;
esac
line=$(sed -n "s/^${name}: //p" "$procfile")
if [ -z "$line" ]; then
  echo "entrypoint: no '$name' in $procfile (it has: $(cut -d: -f1 "$procfile" | tr '\n' ' '))" >&2
  exit 64
fi
# ECS hands secrets over as variables; the CloudFront signing key is read from a file.
if [ -n "${IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY:-}" ] && [ -z "${IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY_PATH:-}" ]; then
  key_file="${TMPDIR:-/tmp}/cloudfront.pem"
  (umask 077 && printf '%s\n' "$IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY" > "$key_file")
  export IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY_PATH="$key_file"
fi
unset IMAGEPIPE_CLOUDFRONT_PRIVATE_KEY
if [ -n "${IMAGEPIPE_ENTRYPOINT_DRY_RUN:-}" ]; then
  printf '%s\n' "$line"
  exit 0
fi
exec sh -c "exec $line"

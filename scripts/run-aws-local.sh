#!/usr/bin/env bash
# The whole platform on the AWS path (S3, SQS, SNS, DynamoDB) against a local moto server:
# no AWS account, no Docker. Everything lives in moto's memory and is gone after Ctrl-C.
# `make run-aws-local` runs this; see README.md, "Local AWS mode".
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.venv/bin"
export PATH="$BIN:$PATH"

MOTO_PORT="${MOTO_PORT:-5100}"
DATA="${IMAGEPIPE_DATA_DIR:-./var/aws-local}"
mkdir -p "$DATA"
DATA="$(cd "$DATA" && pwd)"  # absolute: the env file below works from any folder

# Dummy credentials and one endpoint for every AWS client (boto3 reads AWS_ENDPOINT_URL; kombu
# takes the SQS endpoint from the broker URL's host).
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}"
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export CELERY_BROKER_URL="sqs://testing:testing@127.0.0.1:$MOTO_PORT"
export IMAGEPIPE_DATA_DIR="$DATA"
export IMAGEPIPE_ORIGINALS_URL="${IMAGEPIPE_ORIGINALS_URL:-s3://imagepipe-originals/originals}"
export IMAGEPIPE_VARIANTS_URL="${IMAGEPIPE_VARIANTS_URL:-s3://imagepipe-variants/variants}"
export IMAGEPIPE_CATALOG_URL="${IMAGEPIPE_CATALOG_URL:-dynamodb://imagepipe-images}"
export IMAGEPIPE_SQS_WAIT_SECONDS="${IMAGEPIPE_SQS_WAIT_SECONDS:-2}"
if [ -z "${IMAGEPIPE_SECRET_KEY:-}" ]; then
  # AWS mode needs an explicit key; keep one for this local mode so tokens survive restarts.
  [ -s "$DATA/secret_key" ] || python -c 'import secrets; print(secrets.token_urlsafe(48))' > "$DATA/secret_key"
  IMAGEPIPE_SECRET_KEY="$(cat "$DATA/secret_key")"
  export IMAGEPIPE_SECRET_KEY
fi

imagepipe check-config >/dev/null
# The same settings for the CLI in another terminal: `imagepipe --env var/aws-local/env token alice`.
python -m app.admin.env_file "$DATA/env"

# In its own session, so Ctrl-C reaches the platform first: a worker or ingest loop that found
# moto gone would spend its whole stop timeout retrying. The EXIT trap stops moto last.
setsid moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$DATA/moto.log" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null; true' EXIT
python - "$AWS_ENDPOINT_URL" "$DATA/moto.log" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 30
while True:
    try:
        urllib.request.urlopen(f"{sys.argv[1]}/moto-api/", timeout=2)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"moto did not start; see {sys.argv[2]}")
        time.sleep(0.1)
PY

echo "Provisioning buckets, queues, notification and table on moto ($AWS_ENDPOINT_URL):"
imagepipe provision | sed 's/^/  /'
echo "Starting imagepipe on the AWS path (web, ingest, worker, beat, flower). Ctrl-C stops everything."
imagepipe urls
echo "  CLI for this platform (tokens, stats, reconcile, ...): .venv/bin/imagepipe --env $DATA/env token alice"
echo "  moto dashboard:      $AWS_ENDPOINT_URL/moto-api/"
# supervisord restarts a process that dies (app/ops/supervise.py); Ctrl-C stops them all.
python -m app.ops.supervise web ingest worker beat flower

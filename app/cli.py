"""The `imagepipe` command: tokens, batch processing with no services, and run-time info."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.admin.commands import add_commands
from app.admin.env_file import EnvFileError, load_env_file
from app.auth.tokens import InvalidUserId, LocalIssuer
from app.imaging.contained import render_contained
from app.imaging.encode import EncodeSettings
from app.imaging.errors import ImageRejected
from app.imaging.limits import Limits
from app.imaging.pipeline import pyramid
from app.imaging.placeholder import make_placeholder
from app.imaging.plan import FAST_FORMATS, SLOW_FORMATS, plan_variants
from app.imaging.sandbox import load_master
from app.services import limits_from
from app.settings import Settings, SettingsError, current


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imagepipe", description=__doc__)
    parser.add_argument(
        "--env",
        type=Path,
        metavar="FILE",
        help="read settings from this KEY=VALUE file first (make run-aws-local writes "
        "var/aws-local/env)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="print a signed bearer token for a user")
    token.add_argument("user_id")
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    token.add_argument("--admin", action="store_true", help="in the admin group: acts on any user")

    process = commands.add_parser("process", help="make the variants of files, with no services")
    process.add_argument("files", nargs="+", type=Path)
    process.add_argument("--out", type=Path, required=True, help="folder for variants + manifests")
    process.add_argument("--no-avif", action="store_true", help="skip the slow AVIF variants")

    urls = commands.add_parser("urls", help="print where the running platform can be opened")
    urls.add_argument("--user", default="demo", help="user the page's token is for")

    send = commands.add_parser(
        "upload", help="upload files through the API, wait for processing, print their URLs"
    )
    send.add_argument("files", nargs="+", type=Path)
    send.add_argument(
        "--api", default=None, help="API base URL (default: IMAGEPIPE_PUBLIC_BASE_URL)"
    )
    send.add_argument("--token", default=None, help="bearer token (default: $IMAGEPIPE_TOKEN)")
    send.add_argument("--json", action="store_true", help="print the results as JSON")
    send.add_argument("--wait", type=float, default=600, help="seconds to wait for processing")

    commands.add_parser("check-config", help="validate the settings and print them")
    commands.add_parser(
        "provision",
        help="create or update the AWS buckets, queues, notification and table the settings name",
    )

    health = commands.add_parser(
        "worker-health", help="exit 0 if a Celery worker here beat recently (a container check)"
    )
    health.add_argument("--max-age", type=float, default=30.0, help="seconds (default 30)")
    health.add_argument("--hostname", help="one worker's name (default: any worker here)")

    admin = add_commands(commands)  # reprocess, reconcile, stats, erase-user

    args = parser.parse_args(argv)
    try:
        if args.env is not None:
            load_env_file(args.env)
        # The environment as it is now, after --env: not what an earlier import may have read.
        current.cache_clear()
        settings = current()
    except (SettingsError, EnvFileError) as exc:
        print(f"imagepipe: configuration error: {exc}", file=sys.stderr)
        return 2
    handler = {"token": _token, "process": _process, "urls": _urls, "check-config": _check}
    handler["provision"] = _provision
    handler["upload"] = _upload
    handler["worker-health"] = _worker_health
    handler |= admin
    return handler[args.command](settings, args)


def _token(settings: Settings, args: argparse.Namespace) -> int:
    if settings.cognito_user_pool_id:
        print("imagepipe: tokens come from the Cognito user pool here", file=sys.stderr)
        return 2
    aws_local = settings.data_path("aws-local", "env")
    if settings.embedded and args.env is None and aws_local.exists():
        # The newcomer's trap: this token is for `make run`, not `make run-aws-local`.
        print(
            f"imagepipe: a token for the embedded platform (make run); for make run-aws-local: "
            f"imagepipe --env {aws_local} token {args.user_id}",
            file=sys.stderr,
        )
    try:
        issuer = LocalIssuer.from_settings(settings)
        print(issuer.issue(args.user_id, admin=args.admin, ttl_seconds=args.ttl))
    except InvalidUserId as exc:
        print(f"imagepipe: {exc}", file=sys.stderr)
        return 2
    return 0


def _upload(settings: Settings, args: argparse.Namespace) -> int:
    from app.api_client import Api
    from app.client import run

    token = args.token or os.environ.get("IMAGEPIPE_TOKEN", "")
    if not token:
        print(
            "imagepipe: pass --token or set IMAGEPIPE_TOKEN "
            "(in embedded mode `imagepipe token USER_ID` prints one)",
            file=sys.stderr,
        )
        return 2
    api = Api(args.api or settings.public_base_url, token)
    return run(args.files, api, as_json=args.json, wait_seconds=args.wait)


def _urls(settings: Settings, args: argparse.Namespace) -> int:
    token = LocalIssuer.from_settings(settings).issue(args.user, ttl_seconds=12 * 3600)
    print(f"  API and upload page: {settings.public_base_url}/#token={token}")
    print(f"  Flower (tasks):      http://{settings.flower_host}:{settings.flower_port}")
    print(f"  API token for {args.user!r} (12 h): {token}")
    return 0


def _check(settings: Settings, args: argparse.Namespace) -> int:
    for name, value in vars(settings).items():
        secret = name in ("secret_key", "flower_basic_auth") and value
        print(f"{name} = {'<set>' if secret else value}")
    return 0


def _provision(settings: Settings, args: argparse.Namespace) -> int:
    if settings.embedded:
        print("imagepipe: every backend is embedded; nothing to provision", file=sys.stderr)
        return 2
    from app.ops.provision import provision

    for line in provision(settings).lines():
        print(line)
    return 0


def _process(settings: Settings, args: argparse.Namespace) -> int:
    limits = limits_from(settings)
    formats = FAST_FORMATS + (() if args.no_avif else SLOW_FORMATS)
    failed = 0
    for number, path in enumerate(args.files, start=1):
        started = time.perf_counter()
        manifest = process_file(path, args.out / path.stem, limits, formats, EncodeSettings())
        elapsed = time.perf_counter() - started
        verdict = manifest["status"]
        if verdict == "failed":
            failed += 1
            verdict += f" ({manifest['failure_reason']}: {manifest['failure_detail']})"
        print(f"[{number}/{len(args.files)}] {path}: {verdict} in {elapsed:.2f} s", flush=True)
    return 1 if failed else 0


def process_file(
    path: Path, out: Path, limits: Limits, formats: tuple[str, ...], settings: EncodeSettings
) -> dict[str, Any]:
    """The worker's pipeline on one local file; writes variants and manifest.json under out.

    Decoding runs in a child process under the limits' time and memory budget, so one hostile
    file in a batch ends `failed` with a reason and the batch goes on.
    """
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"source": str(path)}
    try:
        master = load_master(path, limits)
    except (ImageRejected, OSError) as exc:
        reason = exc.reason.value if isinstance(exc, ImageRejected) else "unreadable"
        detail = exc.detail if isinstance(exc, ImageRejected) else str(exc)
        manifest |= {"status": "failed", "failure_reason": reason, "failure_detail": detail}
    else:
        hint = make_placeholder(master.image)
        variants = []
        specs = plan_variants(master.width, formats, height=master.height)
        sizes = pyramid(master.image, [s.width for s in specs])
        for item in render_contained(sizes, specs, settings, limits):  # SVT-AV1 in a child
            (out / item.spec.name).write_bytes(item.data)
            variants.append(
                {
                    "name": item.spec.name,
                    "format": item.spec.format,
                    "tier": item.spec.tier,
                    "width": item.width,
                    "height": item.height,
                    "bytes": len(item.data),
                }
            )
        manifest |= {
            "status": "ready",
            "format": master.info.format.name,
            "width": master.width,
            "height": master.height,
            "placeholder": {
                "thumbhash": hint.thumbhash,
                "data_uri": hint.data_uri,
                "dominant_color": hint.dominant_color,
            },
            "variants": variants,
        }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _worker_health(settings: Settings, args: argparse.Namespace) -> int:
    from app.heartbeat import freshest_age

    age = freshest_age(settings, args.hostname)
    if age is None or age > args.max_age:
        seen = "no heartbeat" if age is None else f"last heartbeat {age:.0f} s ago"
        print(f"imagepipe: worker unhealthy: {seen} (limit {args.max_age:g} s)", file=sys.stderr)
        return 1
    print(f"worker healthy: last heartbeat {age:.1f} s ago")
    return 0


if __name__ == "__main__":
    sys.exit(main())

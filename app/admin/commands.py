"""The operators' commands of `imagepipe`: reprocess, reconcile, stats, erase-user.

app/cli.py registers them with `add_commands`; each handler takes (settings, args) and
returns the exit status: 0 done, 1 the subject was not found or something failed, 2 bad usage.
The job queue is built on use (it imports the Celery configuration, which reads the
environment `--env` may have just loaded); tests replace `jobs_for`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from app.jobs import CeleryJobQueue
from app.services import Services, build_services
from app.settings import Settings
from app.timestamps import iso_utc

Handler = Callable[[Settings, argparse.Namespace], int]


def jobs_for(settings: Settings) -> Any:
    """The job queue (JobQueue and ChainStarter) the commands count and send to."""
    return CeleryJobQueue(cache_seconds=0)


def add_commands(commands: Any) -> dict[str, Handler]:
    """Add the parsers to `commands` (argparse's subparsers); the handlers by command name."""
    again = commands.add_parser(
        "reprocess",
        help="process images again (after the variant set changes): resumable, rate-limited",
    )
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--image", metavar="ID", help="one image")
    which.add_argument("--user", metavar="USER_ID", help="every image of one user")
    which.add_argument("--all", action="store_true", help="every image")
    again.add_argument("--rate", type=float, default=5.0, help="images per second (default 5)")
    again.add_argument(
        "--include-failed", action="store_true", help="retry failed images too (default: ready)"
    )
    again.add_argument(
        "--restart", action="store_true", help="forget a stopped run's checkpoint and start over"
    )

    rec = commands.add_parser(
        "reconcile", help="requeue lost work and fail hopeless images, as the beat task does"
    )
    rec.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    rec.add_argument("--limit", type=int, default=500, help="records per status (default 500)")
    rec.add_argument("--json", action="store_true", help="print the plan as JSON")

    st = commands.add_parser(
        "stats", help="images by status, failure reasons, stored bytes, queue backlog"
    )
    st.add_argument("--json", action="store_true", help="print as JSON")

    erase = commands.add_parser(
        "erase-user",
        help="erase every image of a user (as DELETE /users/ID does), print the receipt",
    )
    erase.add_argument("user_id")
    return {
        "reprocess": _reprocess,
        "reconcile": _reconcile,
        "stats": _stats,
        "erase-user": _erase_user,
    }


def _reprocess(settings: Settings, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from app.admin import reprocess as rp
    from app.catalog import RecordNotFound

    if args.rate <= 0:
        return _error("--rate must be above 0", 2)
    svc = build_services(settings)
    scope = rp.Scope(image_id=args.image, user_id=args.user, everything=args.all)
    if scope.image_id:
        try:
            svc.catalog.get(scope.image_id)
        except RecordNotFound:
            return _error(f"no image {scope.image_id!r}")
    checkpoints = rp.Checkpoints(settings.data_path("reprocess"))
    if args.restart:
        checkpoints.clear(scope)
    resumed = checkpoints.load(scope)
    total = rp.count(svc, scope)
    if total == 0:
        return _error(f"user {scope.user_id!r} has no images" if scope.user_id else "no images")
    if resumed is not None and not scope.image_id:
        print(
            f"resuming the run begun {_iso(resumed.started_at)} "
            f"({resumed.seen} images already seen); --restart starts over",
            file=sys.stderr,
        )
    jobs = jobs_for(settings)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    # The bar and the skipped images on stderr; the tally on stdout.
    console = Console(stderr=True, soft_wrap=True)
    with Progress(*columns, console=console, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("reprocess", total=total, completed=resumed.seen if resumed else 0)

        def shown(state: rp.Checkpoint, image_id: str, outcome: str) -> None:
            bar.update(
                task, completed=min(state.seen, total), description=f"{state.requeued} queued"
            )
            if scope.image_id or outcome not in ("requeued", "done since the run began"):
                bar.console.print(f"{image_id}: {outcome}")

        try:
            state = rp.run(
                svc,
                jobs,
                scope,
                checkpoints,
                pacer=rp.Pacer(args.rate),
                include_failed=args.include_failed,
                progress=shown,
            )
        except KeyboardInterrupt:
            return _error("stopped; run the same command again to continue where it stopped", 130)
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(state.skipped.items()))
    print(
        f"requeued {state.requeued}; skipped {sum(state.skipped.values())}"
        + (f" ({skipped})" if skipped else "")
    )
    return 0 if state.requeued or not scope.image_id else 1


def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from app import reconciler

    svc = build_services(settings)
    jobs = jobs_for(settings)
    try:
        backlog = int(jobs.backlog())
    except Exception as exc:  # noqa: BLE001 - any broker error, said plainly
        return _error(f"cannot count the queue's backlog: {type(exc).__name__}: {exc}")
    planned = reconciler.plan(svc, backlog=backlog, limit=args.limit)
    if args.json:
        print(json.dumps(planned.to_dict() | {"dry_run": args.dry_run}, indent=2))
    else:
        for line in _plan_lines(planned):
            print(line)
    if args.dry_run:
        return 0
    counts = reconciler.apply(svc, planned, jobs.start)
    print(f"done: {counts['requeued']} started, {counts['failed']} failed", file=sys.stderr)
    return 0


def _plan_lines(planned: Any) -> list[str]:
    out = [
        f"queue backlog {planned.backlog}: a record idle {planned.idle_for:g} s counts as stuck",
    ]
    if not planned.steps:
        out.append("nothing to do")
    for s in planned.steps:
        then = f" as {s.reason}" if s.reason else ""
        out.append(
            f"{s.action:8} {s.image_id} ({s.status}, attempt {s.attempts}, "
            f"idle {s.idle_seconds:g} s): {s.why}{then}"
        )
    return out


def _stats(settings: Settings, args: argparse.Namespace) -> int:
    from app.admin import stats

    collected = stats.collect(build_services(settings), jobs_for(settings))
    if args.json:
        print(json.dumps(collected.to_dict(), indent=2))
    else:
        print("\n".join(stats.lines(collected)))
    return 0


def _erase_user(settings: Settings, args: argparse.Namespace) -> int:
    from app.audit import JsonLinesAuditLog
    from app.auth.tokens import InvalidUserId, check_user_id
    from app.erasure import erase_user
    from app.invalidation import invalidator_from_settings

    try:
        check_user_id(args.user_id)
    except InvalidUserId as exc:
        return _error(str(exc), 2)
    svc: Services = build_services(settings)
    if not svc.catalog.list_by_user(args.user_id, limit=1).items:
        return _error(f"user {args.user_id!r} has no images: nothing to erase")
    receipt = erase_user(svc, args.user_id, invalidator_from_settings(settings))
    # The API's body and audit line (app/api/privacy.py): the receipt, its time in ISO 8601.
    body = receipt.to_dict() | {"time": _iso(receipt.time)}
    audit = JsonLinesAuditLog(
        settings.data_path("audit", "erasures.jsonl"), settings.secret_key.reveal()
    )
    audit.append(body | {"via": "cli"})
    print(json.dumps(body, indent=2))
    return 0


def _iso(epoch: float) -> str:
    return iso_utc(epoch, "milliseconds")


def _error(message: str, status: int = 1) -> int:
    print(f"imagepipe: {message}", file=sys.stderr)
    return status

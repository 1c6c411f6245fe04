"""Load test: uploads at a fixed rate while image metadata is read at a fixed rate, on loopback.

    python -m bench.loadtest [--upload-rate 1] [--read-rate 300] [--duration 60] [--count N]

Starts the embedded platform as `make run` does (app/ops/supervise.py over the Procfile's `web`
and `worker` lines: gunicorn with 2 processes x 4 threads, one `celery worker` with concurrency
2, i.e. two worker processes) under a temporary data folder on 127.0.0.1, and stops it after.

Open loop: every request has a scheduled send time (one every 1/rate seconds) and its latency is
counted from that time, not from when a thread got round to sending it, so a slow server shows
as latency rather than as a lower request rate. Uploads cycle through the shared photo corpus
(tests/fixtures where it is absent): `POST /upload` for a form, then the bytes to the form.
Metadata reads (`GET /image/{id}`) go round-robin over the images accepted so far, and are how
the test sees an image settle: upload-to-ready runs from the upload's scheduled time to the
record's `updated_at` once it reads `ready`. When the schedule is over, the images not yet
settled are polled until they are, or until --drain seconds: any left then are `lost`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform as host
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from app.imaging.formats import CONTENT_TYPE_BY_SUFFIX

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "photos"
FIXTURES = ROOT / "tests" / "fixtures"
CONTENT_TYPES = CONTENT_TYPE_BY_SUFFIX
SETTLED = ("ready", "failed")
START_TIMEOUT = 300.0


# --- Open-loop scheduling and the figures (tests/bench/test_loadtest.py) ---


def schedule(rate: float, duration: float, count: int | None = None) -> list[float]:
    """Send times in seconds from the start: one every 1/rate for duration, at most count."""
    if rate <= 0 or duration <= 0:
        return []
    n = math.ceil(rate * duration - 1e-9)
    if count is not None:
        n = min(n, count)
    return [i / rate for i in range(n)]


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


@dataclass
class Outcome:
    index: int
    scheduled: float  # monotonic seconds
    started: float
    done: float
    ok: bool
    detail: str = ""

    @property
    def latency(self) -> float:
        """From the scheduled send time: waiting for a free sender counts."""
        return self.done - self.scheduled


@dataclass
class OpenLoop:
    """Runs job(i) at start + offsets[i] on a bounded pool of threads, whatever the answers' pace.

    job returns None when the request did what it should, else a short reason.
    """

    offsets: Sequence[float]
    job: Callable[[int], str | None]
    threads: int
    clock: Callable[[], float] = time.monotonic
    outcomes: list[Outcome] = field(default_factory=list)
    dispatched: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, start: float) -> None:
        """Dispatch every request at its time, then wait for the last answer."""
        with ThreadPoolExecutor(self.threads, thread_name_prefix="loadtest") as pool:
            for index, offset in enumerate(self.offsets):
                due = start + offset
                wait = due - self.clock()
                if wait > 0:
                    time.sleep(wait)  # the schedule itself, not a guess at a duration
                pool.submit(self._one, index, due)
            self.dispatched.set()

    def _one(self, index: int, due: float) -> None:
        started = self.clock()
        try:
            problem = self.job(index)
        except Exception as exc:  # noqa: BLE001 - every failure is a result to count
            problem = f"{type(exc).__name__}: {exc}"
        outcome = Outcome(index, due, started, self.clock(), problem is None, problem or "")
        with self._lock:
            self.outcomes.append(outcome)

    def latencies(self) -> list[float]:
        return [o.latency for o in self.outcomes if o.ok]

    def errors(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            if not outcome.ok:
                counts[outcome.detail] = counts.get(outcome.detail, 0) + 1
        return counts


# --- The platform under test ---


@dataclass
class Platform:
    port: int
    token: str
    data: Path
    supervisor_pid: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def embedded_platform(data: Path) -> Iterator[Platform]:
    """`python -m app.ops.supervise web worker` with data (an empty folder); stopped after."""
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEPIPE_", "CELERY_"))}
    env = base | {
        # Every backend under data: the defaults are relative to the current folder (./var).
        "IMAGEPIPE_DATA_DIR": str(data),
        "IMAGEPIPE_ORIGINALS_URL": (data / "originals").as_uri(),
        "IMAGEPIPE_VARIANTS_URL": (data / "variants").as_uri(),
        "IMAGEPIPE_CATALOG_URL": f"sqlite:///{data / 'catalog.db'}",
        "CELERY_BROKER_URL": "filesystem://",
        "IMAGEPIPE_HOST": "127.0.0.1",
        "IMAGEPIPE_PORT": str(port),
        "IMAGEPIPE_WORKER_CONCURRENCY": "2",
        "IMAGEPIPE_SECRET_KEY": "loadtest-secret-key-0123456789abcdef",
    }
    output = data / "supervisor.out"
    with output.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.ops.supervise", "--quiet", "web", "worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(proc, port, data / "logs" / "worker.log", output)
        token = subprocess.run(
            [sys.executable, "-m", "app.cli", "token", "loadtest"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        yield Platform(port, token, data, proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)  # supervisord stops its programs, as on Ctrl-C
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_until_up(proc: subprocess.Popen[bytes], port: int, worker_log: Path, out: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    api_up = worker_up = False
    while not (api_up and worker_up):
        if proc.poll() is not None:
            raise RuntimeError(f"the platform exited: {out.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the platform did not start in {START_TIMEOUT:.0f} s; see {out}")
        try:
            api_up = requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        except requests.RequestException:
            api_up = False
        worker_up = worker_log.exists() and "ready." in worker_log.read_text(errors="replace")
        time.sleep(0.2)


def corpus_photos(folder: Path | None = None) -> list[Path]:
    """Every photo of the shared corpus (or the committed fixtures) the API accepts."""
    folders = [folder] if folder else [CORPUS, FIXTURES]
    for candidate in folders:
        found = sorted(
            p for p in candidate.glob("*") if p.suffix.lower() in CONTENT_TYPES and p.is_file()
        )
        if found:
            return found
    raise FileNotFoundError(f"no photos in {', '.join(map(str, folders))}")


# --- The two streams of requests ---


class Connections:
    """One keep-alive HTTP connection per thread, to the API on loopback."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._local = threading.local()

    def get_json(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=60
                )
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()  # a kept-alive connection the server closed: open a new one once
                self._local.conn = None
                if attempt == 2:
                    raise
                continue
            return response.status, json.loads(body) if body else None
        raise AssertionError("unreachable")


@dataclass
class Images:
    """What the uploads and the reads learn: accepted images, and when each settled."""

    accepted: list[str] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)  # scheduled send, wall clock
    settled: dict[str, tuple[str, float]] = field(default_factory=dict)  # status, updated_at
    refused: dict[str, int] = field(default_factory=dict)
    last_seen: dict[str, str] = field(default_factory=dict)  # image ID -> status
    seed: str | None = None  # read until the run's first upload is accepted
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, image_id: str, sent_at: float) -> None:
        with self.lock:
            self.accepted.append(image_id)
            self.sent_at[image_id] = sent_at

    def saw(self, record: dict[str, Any]) -> None:
        self.last_seen[record["image_id"]] = record.get("status", "?")
        if record.get("status") in SETTLED and record["image_id"] not in self.settled:
            updated = datetime.fromisoformat(record["updated_at"].replace("Z", "+00:00"))
            with self.lock:
                self.settled[record["image_id"]] = (record["status"], updated.timestamp())

    def pick(self, index: int) -> str | None:
        with self.lock:
            return self.accepted[index % len(self.accepted)] if self.accepted else self.seed

    def unsettled(self) -> list[str]:
        with self.lock:
            return [i for i in self.accepted if i not in self.settled]


class Load:
    def __init__(self, platform: Platform, photos: Sequence[Path], images: Images) -> None:
        self.platform = platform
        self.photos = [(p.name, CONTENT_TYPES[p.suffix.lower()], p.read_bytes()) for p in photos]
        self.images = images
        self.headers = {"Authorization": f"Bearer {platform.token}"}
        self.connections = Connections(platform.port)
        self.sessions = threading.local()
        self.ticket_latency: list[float] = []
        self.wall_start = 0.0
        self.mono_start = 0.0

    def start_at(self, mono: float) -> None:
        """Both clocks of the start: monotonic for latencies, wall for the record's updated_at."""
        self.mono_start = mono
        self.wall_start = time.time() + (mono - time.monotonic())

    def upload(self, offsets: Sequence[float]) -> Callable[[int], str | None]:
        def job(index: int) -> str | None:
            session: requests.Session | None = getattr(self.sessions, "session", None)
            if session is None:
                session = self.sessions.session = requests.Session()
            name, content_type, data = self.photos[index % len(self.photos)]
            ticket = session.post(
                f"{self.platform.base}/upload",
                json={"filename": name, "content_type": content_type, "size": len(data)},
                headers=self.headers,
                timeout=60,
            )
            scheduled = self.mono_start + offsets[index]
            with self.images.lock:
                self.ticket_latency.append(time.monotonic() - scheduled)
            if ticket.status_code != 201:
                with self.images.lock:
                    key = f"POST /upload {ticket.status_code}"
                    self.images.refused[key] = self.images.refused.get(key, 0) + 1
                return f"POST /upload answered {ticket.status_code}"
            body = ticket.json()
            form = body["upload"]
            posted = session.post(
                form["url"],
                data=form["fields"],
                files={"file": (name, data, content_type)},
                timeout=120,
            )
            if posted.status_code != 204:
                return f"form post answered {posted.status_code}"
            self.images.accept(str(body["image_id"]), self.wall_start + offsets[index])
            return None

        return job

    def read(self, index: int) -> str | None:
        image_id = self.images.pick(index)
        if image_id is None:
            return "no image yet"
        status, record = self.connections.get_json(f"/image/{image_id}", self.headers)
        if status != 200:
            return f"GET /image answered {status}"
        self.images.saw(record)
        return None

    def drain(self, timeout: float) -> None:
        """Read each image not yet settled until all are, or timeout seconds have passed."""
        deadline = time.monotonic() + timeout
        next_news = time.monotonic() + 30
        while (left := self.images.unsettled()) and time.monotonic() < deadline:
            if time.monotonic() > next_news:
                _progress(f"{len(left)} images not settled yet")
                next_news += 30
            for image_id in left:
                status, record = self.connections.get_json(f"/image/{image_id}", self.headers)
                if status == 200:
                    self.images.saw(record)
            time.sleep(0.5)  # polling pace, as a client would; not a timing assumption


# --- Running it and reporting ---


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(kid) for kid in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cpu_by_program(root: int) -> dict[str, float]:
    """CPU seconds used so far by the processes below root, by program (Linux /proc).

    A process's reaped children count in its own figure (the worker's decode sandboxes).
    """
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {"api": 0.0, "worker": 0.0}
    level = _children(root)
    while level:
        for pid in level:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            program = "api" if b"gunicorn" in command else "worker" if b"celery" in command else ""
            if program:
                # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the name.
                used[program] += sum(int(v) for v in fields[11:15]) / ticks
        level = [kid for pid in level for kid in _children(pid)]
    return used


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        host.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    kib = next((int(line.split()[1]) for line in meminfo.splitlines() if "MemTotal" in line), 0)
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "memory": f"{kib / 1024 / 1024:.1f} GiB",
        "python": host.python_version(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    photos = corpus_photos(args.photos)
    upload_offsets = schedule(args.upload_rate, args.duration, args.count)
    read_offsets = schedule(args.read_rate, args.duration, args.read_count)
    images = Images()
    load_before = os.getloadavg()
    data = Path(tempfile.mkdtemp(prefix="imagepipe-loadtest-"))
    began = time.monotonic()
    with embedded_platform(data) as platform:
        _progress(f"platform up on {platform.base} in {time.monotonic() - began:.0f} s")
        load = Load(platform, photos, images)
        # One image before the clock starts: the reads have an ID, and the worker is warm.
        load.start_at(time.monotonic())
        if load.upload([0.0])(0) is not None:
            raise RuntimeError("the warm-up upload was refused")
        load.drain(args.drain)
        images.seed = images.accepted.pop()
        _progress(f"warm-up image {images.seed} settled; sending for {args.duration:.0f} s")
        load.ticket_latency.clear()
        uploads = OpenLoop(upload_offsets, load.upload(upload_offsets), threads=args.upload_threads)
        reads = OpenLoop(read_offsets, load.read, threads=args.read_threads)
        start = time.monotonic() + 0.5
        load.start_at(start)
        cpu_before = cpu_by_program(platform.supervisor_pid) | {"loadtest": own_cpu()}
        senders = [threading.Thread(target=loop.run, args=(start,)) for loop in (uploads, reads)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        sent = time.monotonic() - start
        cpu_after = cpu_by_program(platform.supervisor_pid) | {"loadtest": own_cpu()}
        cpu = {k: round((cpu_after[k] - cpu_before[k]) / sent, 2) for k in cpu_before}
        _progress(f"sent; waiting for {len(images.unsettled())} images to settle")
        load.drain(args.drain)
        load_after = os.getloadavg()
    result = report(
        args=args,
        photos=photos,
        uploads=uploads,
        reads=reads,
        load=load,
        sent=sent,
        loadavg=(load_before, load_after),
    )
    result["cores_used_while_sending"] = cpu
    if result["uploads"]["lost"]:
        result["kept"] = str(data)  # the logs, broker and catalog of the run, for a look
    else:
        shutil.rmtree(data, ignore_errors=True)
    return result


def _progress(message: str) -> None:
    print(f"loadtest: {message}", file=sys.stderr, flush=True)


def report(
    *,
    args: argparse.Namespace,
    photos: Sequence[Path],
    uploads: OpenLoop,
    reads: OpenLoop,
    load: Load,
    sent: float,
    loadavg: tuple[tuple[float, ...], tuple[float, ...]],
) -> dict[str, Any]:
    images = load.images
    accepted = list(images.accepted)
    settled = {i: images.settled[i] for i in accepted if i in images.settled}
    ready = [i for i, (status, _) in settled.items() if status == "ready"]
    to_ready = [settled[i][1] - images.sent_at[i] for i in ready]
    # What the two worker processes held: images settled per second, from the first upload's
    # scheduled time to the last image's settling.
    span = max((t for _, t in settled.values()), default=load.wall_start) - load.wall_start
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "loadavg_before": [round(x, 1) for x in loadavg[0]],
        "loadavg_after": [round(x, 1) for x in loadavg[1]],
        "photos": f"{len(photos)} from {photos[0].parent}",
        "offered": {
            "upload_rate": args.upload_rate,
            "read_rate": args.read_rate,
            "duration": args.duration,
            "uploads": len(uploads.offsets),
            "reads": len(reads.offsets),
            "sending_took": round(sent, 1),
        },
        "uploads": {
            "accepted": len(accepted),
            "refused_or_failed": uploads.errors(),
            "ready": len(ready),
            "failed": len(settled) - len(ready),
            "lost": len(accepted) - len(settled),
            "lost_last_seen": {
                i: images.last_seen.get(i, "never read") for i in accepted if i not in settled
            },
        },
        "reads": {"answered": len(reads.latencies()), "errors": reads.errors()},
        "latency_seconds": {
            "POST /upload": summary(load.ticket_latency),
            "upload (form + bytes)": summary(uploads.latencies()),
            "GET /image/{id}": summary(reads.latencies()),
            "upload to ready": summary(to_ready),
        },
        "worker_throughput": {
            "images_per_second": round(len(settled) / span, 3) if span > 0 else math.nan,
            "over_seconds": round(span, 1),
        },
    }


def markdown(result: dict[str, Any]) -> str:
    m, o, u = result["machine"], result["offered"], result["uploads"]
    lines = [
        f"Run {result['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['memory']}, Python "
        f"{m['python']}; load average {result['loadavg_before'][0]} before, "
        f"{result['loadavg_after'][0]} after (the machine is shared). Photos: {result['photos']}.",
        f"Offered: {o['uploads']} uploads at {o['upload_rate']}/s and {o['reads']} reads at "
        f"{o['read_rate']}/s over {o['duration']} s (sending took {o['sending_took']} s).",
        "",
        f"Accepted {u['accepted']}, ready {u['ready']}, failed {u['failed']}, lost {u['lost']}; "
        f"refused or failed uploads: {u['refused_or_failed'] or 'none'}; read errors: "
        f"{result['reads']['errors'] or 'none'}. The two worker processes held "
        f"{result['worker_throughput']['images_per_second']} images/s over "
        f"{result['worker_throughput']['over_seconds']} s.",
        "",
        "Cores used while sending: "
        + ", ".join(f"{k} {v}" for k, v in result.get("cores_used_while_sending", {}).items())
        + ".",
        "",
        "| latency (from the scheduled send) | n | p50 | p90 | p99 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in result["latency_seconds"].items():
        cells = " | ".join(_ms(s[k]) for k in ("p50", "p90", "p99", "max"))
        lines.append(f"| `{name}` | {s['n']} | {cells} |")
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__)
    parser.add_argument("--upload-rate", type=float, default=1.0, help="uploads per second")
    parser.add_argument("--read-rate", type=float, default=300.0, help="GET /image/{id} per s")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    parser.add_argument("--count", type=int, default=None, help="at most this many uploads")
    parser.add_argument("--read-count", type=int, default=None, help="at most this many reads")
    parser.add_argument(
        "--drain", type=float, default=600.0, help="seconds to wait for the backlog after"
    )
    parser.add_argument("--photos", type=Path, default=None, help="folder of photos to upload")
    parser.add_argument("--upload-threads", type=int, default=16)
    parser.add_argument("--read-threads", type=int, default=32)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    if "kept" in result:
        print(f"\nLost images (last status seen): {result['uploads']['lost_last_seen']}")
        print(f"Their logs, broker folder and catalog are kept in {result['kept']}")
    return 1 if result["uploads"]["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())

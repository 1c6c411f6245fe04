"""The warm encoder child: one process reused for every image, replaced when it fails.

Crashes here happen in the child only (that is the point), so these tests run in the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from app.imaging import contained, warm
from app.imaging.contained import render_contained
from app.imaging.encode import EncodeSettings
from app.imaging.errors import ImageRejected, Reason
from app.imaging.limits import Limits
from app.imaging.pipeline import pyramid, render
from app.imaging.plan import VariantSpec
from tests.app.imaging import warm_jobs
from tests.e2e.processes import wait_for

ROOT = Path(__file__).resolve().parents[3]
SETTINGS = EncodeSettings(avif_codec="svt")
SPECS = [
    VariantSpec("160-lq.avif", "avif", 160, "low"),
    VariantSpec("640.webp", "webp", 640, "standard"),
    VariantSpec("640.avif", "avif", 640, "standard"),
]


@pytest.fixture(autouse=True)
def fresh_children() -> Iterator[None]:
    warm.stop_all()
    yield
    warm.stop_all()


@pytest.fixture(scope="module")
def sizes() -> dict[int, Image.Image]:
    scene = Image.effect_mandelbrot((960, 640), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    return pyramid(scene, (640, 160))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_every_image_is_encoded_by_the_same_child(sizes: dict[int, Image.Image]) -> None:
    first = render_contained(sizes, SPECS, SETTINGS, Limits())
    [pid] = warm.idle_pids()
    assert pid != os.getpid()
    again = render_contained(sizes, SPECS, SETTINGS, Limits())
    assert warm.idle_pids() == [pid]
    with warm.borrowed() as child:
        assert child.run(os.getpid, limits=Limits()) == pid  # the encodes ran there
    assert [r.data for r in again] == [r.data for r in first]
    assert [r.data for r in first] == [r.data for r in render(sizes, SPECS, SETTINGS)]


def test_a_segfault_costs_the_child_libaom_encodes_and_the_next_image_gets_a_new_child(
    sizes: dict[int, Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    render_contained(sizes, SPECS, SETTINGS, Limits())
    [before] = warm.idle_pids()
    monkeypatch.setattr(contained, "_render_list", warm_jobs.render_with_svt_segfaulting)
    crashed = render_contained(sizes, SPECS, SETTINGS, Limits())
    aom = list(render(sizes, SPECS, replace(SETTINGS, avif_codec="aom")))
    assert [r.data for r in crashed] == [r.data for r in aom]
    assert not _alive(before)

    monkeypatch.undo()
    after = render_contained(sizes, SPECS, SETTINGS, Limits())
    [replacement] = warm.idle_pids()
    assert replacement != before
    assert [r.data for r in after] == [r.data for r in render(sizes, SPECS, SETTINGS)]


def test_a_child_past_its_deadline_is_killed_and_replaced() -> None:
    with warm.borrowed() as child:
        pid = child.pid
        assert pid is not None
        with pytest.raises(ImageRejected) as failed:
            child.run(warm_jobs.spin, limits=Limits(decode_seconds=1))
        assert failed.value.reason is Reason.DECODE_TIMEOUT
        assert not _alive(pid)
        assert child.run(os.getpid, limits=Limits()) not in (pid, os.getpid())


def test_a_job_past_the_memory_budget_fails_as_memory_limit() -> None:
    budget = Limits(decode_memory_bytes=64 << 20)
    with warm.borrowed() as child:
        assert child.run(warm_jobs.allocate, 16 << 20, limits=budget) == 16 << 20
        with pytest.raises(ImageRejected) as failed:
            child.run(warm_jobs.allocate, 512 << 20, limits=budget)
        assert failed.value.reason is Reason.MEMORY_LIMIT


def test_a_failed_job_comes_back_as_it_was_and_the_child_is_replaced() -> None:
    with warm.borrowed() as child:
        pid = child.pid
        with pytest.raises(ImageRejected) as failed:
            child.run(warm_jobs.reject, limits=Limits())
        assert (failed.value.reason, failed.value.detail) == (Reason.CORRUPT, "a job that fails")
        assert child.pid is None
        assert pid is not None
        assert not _alive(pid)


def test_a_forked_process_starts_its_own_child_and_leaves_the_parents_alone(
    sizes: dict[int, Image.Image],
) -> None:
    render_contained(sizes, SPECS, SETTINGS, Limits())
    [parents] = warm.idle_pids()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the forked copy reports through the pipe
        code = 1
        try:
            with warm.borrowed() as child:
                os.write(write_end, str(child.run(os.getpid, limits=Limits())).encode())
            warm.stop_all()
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as answer:
        theirs = int(answer.read() or 0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert theirs not in (0, parents)
    assert warm.idle_pids() == [parents]
    with warm.borrowed() as child:
        assert child.run(os.getpid, limits=Limits()) == parents


def test_the_child_ends_when_its_process_is_killed() -> None:
    script = textwrap.dedent(
        """
        import os, signal
        from app.imaging import warm
        from app.imaging.limits import Limits
        with warm.borrowed() as child:
            print(child.run(os.getpid, limits=Limits()), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # as a Celery hard time limit ends a pool process
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    child = int(result.stdout.strip())
    wait_for(lambda: True if not _alive(child) else None, timeout=60, what="the child to end")


def test_stopping_the_children_reaps_them(sizes: dict[int, Image.Image]) -> None:
    """What a pool process does as it shuts down (tasks/celery_app.py): no zombie left behind."""
    render_contained(sizes, SPECS, SETTINGS, Limits())
    [pid] = warm.idle_pids()
    warm.stop_all()
    assert warm.idle_pids() == []
    assert not Path(f"/proc/{pid}").exists()  # killed and waited for, not a zombie

"""Every hostile file gets its outcome; the guards, limits and sandbox each do what they claim.

The files are the shared corpus (where ../shared/corpus is present) and the generated set of
tests/hostile/cases.tsv (always), so a clone without ../shared runs every test here too.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.cli import process_file
from app.imaging import guards, pipeline, sandbox
from app.imaging.encode import EncodeSettings
from app.imaging.errors import ImageRejected, Reason
from app.imaging.formats import JPEG
from app.imaging.limits import Limits
from app.imaging.probe import probe, probe_bytes
from tests import hostile_files
from tests.conftest import CORPUS, FIXTURES

LIMITS = Limits()
MiB = 1024 * 1024
FILES = {item.name: item for item in hostile_files.everything()}


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every hostile file on disk: generated ones written once, corpus ones read in place."""
    return hostile_files.write(list(FILES.values()), tmp_path_factory.mktemp("hostile"))


def outcome(path: Path, limits: Limits = LIMITS) -> tuple[str, Any]:
    try:
        master = sandbox.load_master(path, limits)
    except ImageRejected as rejected:
        return rejected.reason.value, rejected.detail
    return hostile_files.READY, (master.width, master.height)


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_hostile_file_gets_its_outcome(name: str, paths: dict[str, Path]) -> None:
    expect = FILES[name].expect
    got, detail = outcome(paths[name])
    assert got == expect.outcome, f"{name}: {detail}"
    if expect.size is not None:
        assert detail == expect.size


def test_the_expectations_cover_the_whole_corpus_where_it_is_present() -> None:
    if (CORPUS / "hostile").is_dir():
        assert len(hostile_files.corpus()) == len(hostile_files.CORPUS) == 64
    kinds = {item.expect.outcome for item in hostile_files.made()}
    # Without ../shared the generated set alone still reaches every verdict the corpus does.
    assert kinds >= {item.expect.outcome for item in hostile_files.corpus()}


def real_photos() -> Iterator[Path]:
    yield from sorted(FIXTURES.glob("*.jpg"))
    yield from sorted(FIXTURES.glob("*.png"))
    folder = CORPUS / "photos"
    if folder.is_dir():
        yield from sorted(p for p in folder.iterdir() if p.name != "MANIFEST.tsv")


@pytest.mark.parametrize("path", list(real_photos()), ids=lambda p: p.name)
def test_no_real_photo_is_refused_by_the_guards(path: Path) -> None:
    info = probe(path, LIMITS)
    with Image.open(path) as img:
        assert (info.width, info.height) == img.size
    probe_bytes(path.read_bytes(), LIMITS)


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_api_check_on_bytes_agrees_with_the_worker(name: str, paths: dict[str, Path]) -> None:
    """probe_bytes (no Pillow) refuses a subset of what probe refuses, for the same reason."""
    try:
        probe_bytes(paths[name].read_bytes(), LIMITS)
    except ImageRejected as rejected:
        early: Reason | None = rejected.reason
    else:
        early = None
    if early is not None:
        with pytest.raises(ImageRejected) as late:
            probe(paths[name], LIMITS)
        assert late.value.reason is early


# Valid files of every allowed format, to mutate: flipped bytes and cuts anywhere.
SEEDS = (
    "made_png_named.jpg",
    "made_webp_named.png",
    "made_heif_named.jpg",
    "made_avif_named.png",
    "made_gif_40_frames.gif",
    "made_webp_50_frames.webp",
    "made_jpeg_progressive.jpg",
    "made_jpeg_exif_loop.jpg",
    "made_cmyk.tif",
    "made_i16_transparent_key.png",
)


def mutants(data: bytes, count: int, rng: random.Random) -> Iterator[bytes]:
    for _ in range(count):
        if rng.random() < 0.3:
            yield data[: rng.randrange(1, len(data))]
            continue
        mutant = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            # Mostly in the first bytes, where the structure is.
            end = min(len(mutant), 512) if rng.random() < 0.7 else len(mutant)
            mutant[rng.randrange(end)] = rng.randrange(256)
        yield bytes(mutant)


@pytest.mark.parametrize("name", SEEDS)
def test_mutated_headers_are_refused_only_with_a_reason(
    name: str, paths: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "upload"
    for mutant in mutants(paths[name].read_bytes(), 150, random.Random(name)):
        target.write_bytes(mutant)
        with contextlib.suppress(ImageRejected):  # anything else fails the test
            probe_bytes(mutant, LIMITS)
        with contextlib.suppress(ImageRejected):
            probe(target, LIMITS)


@pytest.mark.parametrize("name", SEEDS)
def test_mutated_files_decode_to_a_definite_outcome(
    name: str, paths: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "upload"
    seen = set()
    for mutant in mutants(paths[name].read_bytes(), 12, random.Random(f"decode {name}")):
        target.write_bytes(mutant)
        seen.add(outcome(target)[0])
    assert seen <= {hostile_files.READY} | {reason.value for reason in Reason}


def test_the_scan_count_is_one_for_a_camera_jpeg_and_about_ten_when_progressive(
    paths: dict[str, Path],
) -> None:
    def scans(path: Path) -> int:
        return guards.inspect(path.read_bytes(), JPEG, LIMITS).scans

    assert scans(FIXTURES / "mate_Storm.jpg") == 1
    assert 6 <= scans(paths["made_jpeg_progressive.jpg"]) <= 12
    assert scans(paths["made_jpeg_100_scans.jpg"]) == 100


# --- Each guard, and its limit ------------------------------------------------------------------


def test_limits_are_configurable(paths: dict[str, Path]) -> None:
    progressive = paths["made_jpeg_progressive.jpg"]
    assert outcome(progressive)[0] == hostile_files.READY
    assert outcome(progressive, replace(LIMITS, max_scans=5))[0] == Reason.TOO_MANY_SCANS
    animation = paths["made_gif_40_frames.gif"]
    assert outcome(animation, replace(LIMITS, max_frames=39))[0] == Reason.TOO_MANY_FRAMES
    assert outcome(animation, replace(LIMITS, max_total_pixels=96 * 64 * 39))[0] == (
        Reason.TOO_MANY_PIXELS
    )
    tall = paths["made_tall_1x65500.jpg"]
    assert outcome(tall, replace(LIMITS, max_pixels=65_499))[0] == Reason.TOO_MANY_PIXELS
    assert outcome(tall, replace(LIMITS, max_bytes=1000))[0] == Reason.FILE_TOO_LARGE
    exif = paths["made_jpeg_exif_65k.jpg"]
    assert outcome(exif, replace(LIMITS, max_exif_bytes=60_000))[0] == Reason.METADATA_TOO_LARGE
    icc = paths["made_jpeg_garbage_icc.jpg"]
    assert outcome(icc, replace(LIMITS, max_metadata_bytes=2000))[0] == Reason.METADATA_TOO_LARGE


def test_a_scan_bomb_past_the_guard_is_stopped_by_the_time_limit(paths: dict[str, Path]) -> None:
    # With the scan guard lifted, libjpeg would spend about a minute on this 300 KB file.
    lifted = replace(LIMITS, max_scans=10**6, decode_seconds=1.0)
    reason, detail = outcome(paths["made_jpeg_5000_scans.jpg"], lifted)
    assert reason == Reason.DECODE_TIMEOUT, detail


def test_a_decode_over_the_memory_budget_is_refused_before_it_starts(
    paths: dict[str, Path],
) -> None:
    # 49 MP of RGBA is 196 MB once decoded: over a 64 MiB budget, within the default one. It is
    # refused from its header, whatever memory the child could reuse from its parent (the
    # address-space ceiling alone let it through once, in a long-lived test process).
    small = replace(LIMITS, decode_memory_bytes=64 * MiB)
    reason, detail = outcome(paths["made_png_zlib_rgba_7000x7000.png"], small)
    assert reason == Reason.MEMORY_LIMIT, detail
    assert "7000x7000 RGBA needs 187 MiB, over the 64 MiB allowed" in detail


def test_the_budget_counts_a_jpeg_at_the_scale_it_is_decoded_at(tmp_path: Path) -> None:
    # 16 MP is 64 MiB at full size, but the 1920 px master decodes it at half scale (16 MiB).
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4096, 4096), (120, 80, 40)).save(path, quality=80)
    small = replace(LIMITS, decode_memory_bytes=48 * MiB)
    assert outcome(path, small) == (hostile_files.READY, (4096, 4096))


def _allocate(size: int) -> int:
    return len(bytearray(size))


def test_the_address_space_ceiling_backs_up_the_budget() -> None:
    # What a decoder allocates beyond its estimate (libjpeg's coefficients, a plugin's buffers)
    # still meets the child's ceiling.
    small = replace(LIMITS, decode_memory_bytes=64 * MiB)
    with pytest.raises(ImageRejected) as refused:
        sandbox.run_limited(_allocate, 512 * MiB, limits=small)
    assert refused.value.reason == Reason.MEMORY_LIMIT


def test_the_sandbox_returns_the_same_master_as_decoding_in_process() -> None:
    path = FIXTURES / "mate_Storm.jpg"
    here = pipeline.load_master(path, LIMITS)
    there = sandbox.load_master(path, LIMITS)
    assert (there.width, there.height, there.info) == (here.width, here.height, here.info)
    assert there.image.mode == here.image.mode
    assert there.image.tobytes() == here.image.tobytes()
    there.image.putpixel((0, 0), (1, 2, 3))  # an ordinary, writable image


def _segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _spin() -> None:
    while True:
        pass


def _fails() -> None:
    raise KeyError("a decoder bug")


def test_a_decoder_crash_is_a_reason_and_the_caller_lives_on() -> None:
    with pytest.raises(ImageRejected) as crashed:
        sandbox.run_limited(_segfault, limits=LIMITS)
    assert crashed.value.reason is Reason.DECODER_CRASH
    assert "SIGSEGV" in crashed.value.detail
    with pytest.raises(ImageRejected) as buggy:
        sandbox.run_limited(_fails, limits=LIMITS)
    assert buggy.value.reason is Reason.CORRUPT


class SoftTimeLimitExceeded(Exception):
    """Named as Celery's, which the sandbox recognises by name."""


def test_celerys_soft_time_limit_while_waiting_is_a_decode_timeout() -> None:
    def soft_limit(*_: Any) -> None:
        raise SoftTimeLimitExceeded

    before = children()
    main, native = threading.get_ident(), threading.get_native_id()
    done = threading.Event()

    def alarm_while_waiting() -> None:
        # Celery's alarm while the master waits for its child. A timer could fire before the
        # fork on a busy machine; the soft limit then leaves the stage some other way.
        while not done.is_set():
            wchan = Path(f"/proc/self/task/{native}/wchan").read_text()
            if children() - before and "poll" in wchan:
                signal.pthread_kill(main, signal.SIGALRM)
                return
            done.wait(0.01)

    previous = signal.signal(signal.SIGALRM, soft_limit)
    alarm = threading.Thread(target=alarm_while_waiting)
    alarm.start()
    try:
        with pytest.raises(ImageRejected) as stopped:
            sandbox.run_limited(_spin, limits=replace(LIMITS, decode_seconds=60))
    finally:
        done.set()
        alarm.join()
        signal.signal(signal.SIGALRM, previous)
    assert stopped.value.reason is Reason.DECODE_TIMEOUT
    assert "time limit ran out" in stopped.value.detail  # the alarm's, not the 60 s deadline's
    assert children() == before  # the spinning child was killed and reaped


def children() -> set[str]:
    return set(Path(f"/proc/self/task/{os.getpid()}/children").read_text().split())


def test_the_cli_batch_goes_on_past_hostile_files(paths: dict[str, Path], tmp_path: Path) -> None:
    lifted = replace(LIMITS, max_scans=10**6, decode_seconds=1.0)
    results = {}
    for name in ("made_jpeg_5000_scans.jpg", "made_document.pdf.jpg", "made_cmyk.jpg"):
        manifest = process_file(paths[name], tmp_path / name, lifted, ("jpg",), EncodeSettings())
        results[name] = manifest.get("failure_reason", manifest["status"])
        assert json.loads((tmp_path / name / "manifest.json").read_text()) == manifest
    assert results == {
        "made_jpeg_5000_scans.jpg": "decode_timeout",
        "made_document.pdf.jpg": "unsupported_format",
        "made_cmyk.jpg": "ready",
    }


def test_the_robustness_doc_lists_every_file_with_its_expected_outcome() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "robustness.md").read_text()
    assert hostile_files.markdown_table() in doc, "regenerate with: python -m tests.hostile_files"

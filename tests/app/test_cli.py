"""The `imagepipe` command, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.auth.tokens import Identity, LocalIssuer
from app.settings import Settings
from tests.conftest import ROOT, photo


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEPIPE_")}
    environ |= {"IMAGEPIPE_DATA_DIR": str(tmp_path)} | env
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )


def test_token_is_accepted_by_the_api_verifier(tmp_path: Path) -> None:
    result = run(tmp_path, "token", "alice")
    assert result.returncode == 0, result.stderr
    settings = Settings.from_env({"IMAGEPIPE_DATA_DIR": str(tmp_path)})
    verifier = LocalIssuer.from_settings(settings).verifier()
    assert verifier.verify(result.stdout.strip()) == Identity("alice", admin=False)
    admin = run(tmp_path, "token", "support", "--admin")
    assert verifier.verify(admin.stdout.strip()) == Identity("support", admin=True)


def test_bad_user_id_and_bad_config_fail_clearly(tmp_path: Path) -> None:
    bad_user = run(tmp_path, "token", "no spaces please")
    assert bad_user.returncode == 2
    assert "user ID" in bad_user.stderr
    bad_config = run(tmp_path, "token", "alice", IMAGEPIPE_PORT="http")
    assert bad_config.returncode == 2
    assert "IMAGEPIPE_PORT" in bad_config.stderr


def test_process_writes_variants_and_a_manifest_per_input(tmp_path: Path) -> None:
    pdf = tmp_path / "notes.jpg"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    out = tmp_path / "out"
    result = run(tmp_path, "process", str(photo("mate_Storm.jpg")), str(pdf), "--out", str(out))
    assert result.returncode == 1  # one input failed
    assert "[1/2]" in result.stdout and "[2/2]" in result.stdout
    good = json.loads((out / "mate_Storm" / "manifest.json").read_text())
    assert good["status"] == "ready"
    assert len(good["variants"]) == 19  # 160-lq, 640-lq and 4 slots in 3 formats; 720.avif
    for variant in good["variants"]:
        assert (out / "mate_Storm" / variant["name"]).stat().st_size == variant["bytes"]
    bad = json.loads((out / "notes" / "manifest.json").read_text())
    assert bad["failure_reason"] == "unsupported_format"

"""The newcomer's path: `make run-aws-local` keeps its own secret, and `imagepipe --env
var/aws-local/env token alice` gives a token that platform's API accepts (the plain
`imagepipe token alice` is for `make run`, is refused there, and says so)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.admin.env_file import EnvFileError, read_env_file, write_env_file
from app.api import create_app
from app.settings import Settings
from tests.app.cli.conftest import Cli
from tests.conftest import ROOT
from tests.e2e.processes import aws_env, moto_server


def script_env(endpoint: str, var: Path) -> dict[str, str]:
    """What scripts/run-aws-local.sh exports before it writes the env file."""
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEPIPE_", "CELERY_"))}
    return aws_env(plain, endpoint) | {
        "IMAGEPIPE_DATA_DIR": str(var / "aws-local"),
        "IMAGEPIPE_ORIGINALS_URL": "s3://imagepipe-originals/originals",
        "IMAGEPIPE_VARIANTS_URL": "s3://imagepipe-variants/variants",
        "IMAGEPIPE_CATALOG_URL": "dynamodb://imagepipe-images",
        "IMAGEPIPE_SECRET_KEY": "the-aws-local-key-kept-under-var-aws-local",
        "AWS_SESSION_TOKEN": "a real one from the caller's shell",
    }


def test_the_env_file_token_is_accepted_by_the_aws_local_api(
    run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    var = run.tmp / "var"
    monkeypatch.setenv("IMAGEPIPE_DATA_DIR", str(var))
    env_file = var / "aws-local" / "env"
    with moto_server() as endpoint:
        # The script's own line: python -m app.admin.env_file "$DATA/env"
        subprocess.run(
            [sys.executable, "-m", "app.admin.env_file", str(env_file)],
            env=script_env(endpoint, var),
            cwd=ROOT,
            check=True,
        )
        assert env_file.stat().st_mode & 0o077 == 0  # it holds the key
        written = read_env_file(env_file)
        assert "AWS_SESSION_TOKEN" not in written
        assert written["AWS_ENDPOINT_URL"] == endpoint

        monkeypatch.delenv("IMAGEPIPE_SECRET_KEY")  # make run's own key, under var/
        status, embedded_token, err = run("token", "alice")  # what the README used to say
        assert status == 0 and f"--env {env_file} token alice" in err
        for name in list(os.environ):
            if name.startswith("IMAGEPIPE_"):
                monkeypatch.delenv(name)  # a new terminal: nothing of the test's settings
        status, _, err = run("--env", str(env_file), "provision")
        assert status == 0, err
        status, token, err = run("--env", str(env_file), "token", "alice")
        assert status == 0 and err == ""

        for name, value in written.items():  # the platform's own settings
            monkeypatch.setenv(name, value)
        api = create_app(Settings.from_env()).test_client()
        mine = api.get(
            "/images?user_id=alice", headers={"Authorization": f"Bearer {token.strip()}"}
        )
        assert mine.status_code == 200, mine.get_json()
        refused = api.get(
            "/images?user_id=alice",
            headers={"Authorization": f"Bearer {embedded_token.strip()}"},
        )
        assert refused.status_code == 401


def test_a_missing_or_malformed_env_file_is_a_clear_error(run: Cli) -> None:
    status, _, err = run("--env", str(run.tmp / "nope"), "token", "alice")
    assert status == 2 and "cannot read" in err
    bad = run.tmp / "bad"
    bad.write_text("IMAGEPIPE_PORT=8000\nthis is not a setting\n")
    with pytest.raises(EnvFileError, match="bad:2"):
        read_env_file(bad)


def test_values_survive_the_round_trip_and_the_shell(tmp_path: Path) -> None:
    path = tmp_path / "env"
    values = {"IMAGEPIPE_SECRET_KEY": "a b'c\"d$e", "IMAGEPIPE_PORT": "", "OTHER": "dropped"}
    write_env_file(path, values)
    assert read_env_file(path) == {"IMAGEPIPE_SECRET_KEY": "a b'c\"d$e", "IMAGEPIPE_PORT": ""}
    shell = subprocess.run(
        ["sh", "-c", f'. "{path}"; printf %s "$IMAGEPIPE_SECRET_KEY"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout == "a b'c\"d$e"

"""Flower: its own bind address, and a login whenever it listens beyond loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.flower import flower_command, is_loopback
from app.settings import SettingsError
from tests.conftest import make_settings
from tests.e2e.processes import embedded_env, free_port, process, run_python, wait_for

PASSWORD = "correct-horse-battery"
EVERYWHERE = "0.0.0.0"  # noqa: S104 - the exposed bind these tests are about


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        (EVERYWHERE, False),
        ("::", False),
        ("10.0.0.5", False),
        ("flower.example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_exposed_flower_needs_a_login(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="FLOWER_BASIC_AUTH"):
        flower_command(make_settings(tmp_path, flower_host=EVERYWHERE))
    exposed = flower_command(
        make_settings(tmp_path, flower_host=EVERYWHERE, flower_basic_auth=f"ops:{PASSWORD}")
    )
    assert "--address=0.0.0.0" in exposed
    assert not any(PASSWORD in arg for arg in exposed)  # Flower reads it from its environment
    local = flower_command(make_settings(tmp_path, flower_port=5601))
    assert local[-2:] == ["--address=127.0.0.1", "--port=5601"]


def test_the_launcher_refuses_to_expose_flower(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "var", free_port(), FLOWER_HOST=EVERYWHERE)
    env.pop("FLOWER_BASIC_AUTH", None)
    result = run_python("-m", "app.flower", env=env)
    assert result.returncode == 2
    assert "FLOWER_BASIC_AUTH" in result.stderr


def test_check_config_does_not_print_the_flower_password(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "var", free_port(), FLOWER_BASIC_AUTH=f"ops:{PASSWORD}")
    result = run_python("-m", "app.cli", "check-config", env=env)
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout
    assert "flower_basic_auth = <set>" in result.stdout


@pytest.fixture
def flower_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = embedded_env(
        tmp_path / "var",
        free_port(),
        FLOWER_HOST="127.0.0.1",
        FLOWER_PORT=str(port),
        FLOWER_BASIC_AUTH=f"ops:{PASSWORD}",
    )
    url = f"http://127.0.0.1:{port}"
    with process([sys.executable, "-m", "app.flower"], env, tmp_path / "flower.log"):
        wait_for(lambda: _answers(url), timeout=90, what="Flower")
        yield url


def _answers(url: str) -> bool | None:
    try:
        requests.get(url, timeout=5)
    except (requests.ConnectionError, requests.Timeout):
        return None
    return True


@pytest.mark.e2e
def test_flower_asks_for_the_login(flower_url: str) -> None:
    assert requests.get(f"{flower_url}/workers", timeout=30).status_code == 401
    wrong = requests.get(f"{flower_url}/workers", auth=("ops", "wrong-password!"), timeout=30)
    assert wrong.status_code == 401
    right = requests.get(f"{flower_url}/workers", auth=("ops", PASSWORD), timeout=30)
    assert right.status_code == 200


def test_urls_names_flowers_own_address(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "var", free_port(), FLOWER_HOST="127.0.0.2", FLOWER_PORT="5601")
    result = run_python("-m", "app.cli", "urls", env=env)
    assert result.returncode == 0, result.stderr
    assert "http://127.0.0.2:5601" in result.stdout

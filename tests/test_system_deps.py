"""scripts/system-deps.sh, with fake dpkg-query, apt-get and id first on PATH.

The fake apt-get fails as the real one does (100, "Unable to acquire the dpkg frontend lock")
when another apt-get is running, and the first install waits inside apt-get until the test
lets it go, so the second run reaches the script while the first one installs: no sleeps.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "system-deps.sh"

DPKG_QUERY = """#!/bin/sh
for last in "$@"; do :; done
[ -e "$FAKE/installed-$last" ] && printf 'install ok installed'
exit 0
"""
# "$@" ends with the package for install; update has nothing to do.
APT_GET = """#!/bin/sh
mkdir "$FAKE/apt-running" 2>/dev/null || {
  echo "E: Unable to acquire the dpkg frontend lock" >&2; exit 100; }
for last in "$@"; do :; done
case " $* " in *" install "*)
  echo "$last" >> "$FAKE/installs"
  touch "$FAKE/inside"
  while [ ! -e "$FAKE/go" ]; do sleep 0.01; done
  touch "$FAKE/installed-$last";;
esac
rmdir "$FAKE/apt-running"
"""


def _fake_tools(fake: Path) -> dict[str, str]:
    bin_dir = fake / "bin"
    bin_dir.mkdir()
    for name, text in (
        ("dpkg-query", DPKG_QUERY),
        ("apt-get", APT_GET),
        ("id", "#!/bin/sh\necho 0\n"),
    ):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return os.environ | {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE": str(fake),
        "IMAGEPIPE_DEPS_LOCK": str(fake / "deps.lock"),
    }


def _wait_for(path: Path, first: subprocess.Popen[str]) -> None:
    while not path.exists():  # the condition itself, not a time
        assert first.poll() is None, first.communicate()
        os.sched_yield()


def _waiting_on_flock(pid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        comm, rest = text[text.index("(") + 1 :].rsplit(")", 1)
        if comm == "flock" and int(rest.split()[1]) == pid:  # fields: state, ppid, ...
            return True
    return False


def _blocked_or_done(second: subprocess.Popen[str]) -> None:
    """Until the second run waits on the script's lock, or has ended (as it did before it)."""
    while second.poll() is None and not _waiting_on_flock(second.pid):
        os.sched_yield()


def test_two_runs_side_by_side_install_once_and_both_succeed(tmp_path: Path) -> None:
    env = _fake_tools(tmp_path)
    run = [str(SCRIPT), "somepkg"]
    first = subprocess.Popen(
        run, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _wait_for(tmp_path / "inside", first)  # the first run is installing, holding apt's lock
    second = subprocess.Popen(
        run, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _blocked_or_done(second)
    (tmp_path / "go").touch()
    _, err_first = first.communicate(timeout=120)
    _, err_second = second.communicate(timeout=120)
    assert (first.returncode, err_first) == (0, "")
    assert (second.returncode, err_second) == (0, "")
    assert (tmp_path / "installs").read_text() == "somepkg\n"  # the second found it installed


def test_nothing_to_install_calls_no_apt(tmp_path: Path) -> None:
    env = _fake_tools(tmp_path)
    (tmp_path / "installed-somepkg").touch()
    done = subprocess.run(
        [str(SCRIPT), "somepkg"], check=False, env=env, text=True, capture_output=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert not (tmp_path / "installs").exists()

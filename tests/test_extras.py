"""The embedded mode runs without the [aws] and [bench] extras: boto3, pycurl and pyvips.

pyproject.toml's base dependencies are what the embedded mode imports; boto3 and kombu's SQS
extra (pycurl) come with [aws], pyvips with [bench]. Here a fresh interpreter refuses to import
them, then imports every embedded entry point and takes one photo from upload to ready in process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from tests.conftest import photo

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("boto3", "botocore", "s3transfer", "pycurl", "pyvips")

SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import io
    import sys

    BLOCKED = set(sys.argv[1].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (not installed)", name=name)
            return None

    sys.meta_path.insert(0, Refuse())

    # Every embedded entry point: the Procfile's processes, the CLI, the Celery config.
    import celeryconfig
    import app.api, app.cli, app.flower, app.ops.supervise, app.wsgi
    import tasks.celery_app, tasks.pipeline, tasks.reconcile, tasks.retention, tasks.fs_transport

    from app import processing
    from app.api import create_app
    from app.auth.tokens import LocalIssuer
    from app.services import build_services
    from app.settings import current

    settings = current()
    assert settings.embedded
    services = build_services(settings)

    class Jobs:
        created = []
        def object_created(self, key): self.created.append(key)
        def ping(self): return None
        def backlog(self): return 0

    jobs = Jobs()
    client = create_app(settings, services=services, jobs=jobs).test_client()
    auth = {"Authorization": "Bearer " + LocalIssuer.from_settings(settings).issue("alice")}
    data = open(sys.argv[2], "rb").read()
    asked = client.post(
        "/upload",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": len(data)},
        headers=auth,
    ).get_json()
    form = dict(asked["upload"]["fields"]) | {"file": (io.BytesIO(data), "a.jpg")}
    sent = client.post("/upload/receive", data=form, content_type="multipart/form-data")
    assert sent.status_code == 204, sent.data
    image_id = asked["image_id"]
    assert jobs.created == [image_id]
    # The Celery chain's steps, in process (tasks/pipeline.py runs the same functions).
    attempt = processing.claim(services, image_id)
    for step in (processing.resize, processing.compress, processing.encode, processing.record):
        step(services, image_id, attempt)
    status = client.get(f"/image/{image_id}", headers=auth).get_json()["status"]
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    print(status, loaded)
    """
)


def test_the_embedded_mode_runs_without_the_aws_and_bench_extras(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEPIPE_", "CELERY_"))}
    env |= {"IMAGEPIPE_DATA_DIR": str(tmp_path / "var")}
    env |= {
        f"IMAGEPIPE_{kind}_URL": (tmp_path / "var" / kind.lower()).as_uri()
        for kind in ("ORIGINALS", "VARIANTS")
    }
    env["IMAGEPIPE_CATALOG_URL"] = f"sqlite:///{tmp_path / 'var' / 'catalog.db'}"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(BLOCKED), str(photo("mate_Storm.jpg"))],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["ready", "[]"]


def test_the_extras_hold_what_the_embedded_mode_does_not_need() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    extras = project["optional-dependencies"]
    for package in ("boto3", "kombu[sqs]", "pyvips", "moto", "pulumi"):
        assert package not in base
    assert any(dep.startswith("boto3") for dep in extras["aws"])
    assert any(dep.startswith("kombu[sqs]") for dep in extras["aws"])
    assert any(dep.startswith("pyvips") for dep in extras["bench"])
    # `make test` installs [dev], which must bring every mode's code.
    assert any(dep.startswith("imagepipe[aws,bench,infra]") for dep in extras["dev"])

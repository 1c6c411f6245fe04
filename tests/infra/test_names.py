"""One source of truth for names: app/names.py. Every other copy must equal it."""

from __future__ import annotations

import sys

from app import aws, names, working_pyramid
from app.catalog import dynamodb
from app.ops import provision
from app.settings import Settings
from edge import variants, viewer_request
from tests.conftest import make_settings


def test_settings_defaults_are_the_shared_names(tmp_path: object) -> None:
    defaults = Settings.__dataclass_fields__
    assert defaults["uploads_queue"].default == names.UPLOADS_QUEUE
    assert defaults["task_queue"].default == names.TASK_QUEUE
    assert defaults["sqs_max_receives"].default == names.MAX_RECEIVES
    assert defaults["task_time_limit"].default == names.TASK_TIME_LIMIT


def test_the_pipeline_edge_and_adapters_use_the_shared_names() -> None:
    assert working_pyramid.WORK_PREFIX == names.WORK_PREFIX
    assert viewer_request.VARIANT_HEADER == names.VARIANT_HEADER
    assert variants.PUBLIC_PREFIX == names.PUBLIC_PREFIX
    assert (dynamodb.BY_USER, dynamodb.BY_OPEN_STATUS) == (names.BY_USER, names.BY_OPEN_STATUS)
    assert set(names.INDEXES) == {names.BY_USER, names.BY_OPEN_STATUS}
    assert provision.NOTIFICATION_ID == names.NOTIFICATION_ID
    assert provision.DLQ_SUFFIX == names.DLQ_SUFFIX


def test_the_visibility_timeout_is_one_formula(tmp_path: object) -> None:
    from pathlib import Path

    settings = make_settings(Path(str(tmp_path)), task_time_limit=300)
    assert aws.task_visibility_timeout(settings) == names.task_visibility_timeout(300)


def test_infra_loads_the_same_file_by_path_not_the_app_package() -> None:
    from imagepipe_infra.shared import names as infra_names

    from tests.infra import stackmock  # noqa: F401 - puts infra/pulumi on the path

    assert infra_names is not names  # loaded from the file, without importing app
    assert infra_names.__file__ == names.__file__
    assert sys.modules["imagepipe_names"] is infra_names

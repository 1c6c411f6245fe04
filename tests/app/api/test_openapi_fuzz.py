"""Schemathesis fuzzes /openapi.json against the app in process (issue 10, Fuzzing).

Every operation gets a bounded, derandomized set of generated requests, valid and invalid,
sent with a valid (admin) bearer token to the embedded backends in a temporary folder. Each answer
must not be a 500 and must conform to the document: a documented status, a documented
content type, a body that matches its schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, seed
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.settings import Settings
from tests.conftest import make_settings

# At most this many per operation and mode (fewer where the inputs run out): about 150 requests
# a mode, 5-30 s per mode on the shared 2-core box. Schemathesis's own CLI defaults to 100.
EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    # Generous limits: the fuzzer must reach the views, not stop at the rate limiter.
    return make_settings(
        tmp_path,
        upload_rate_per_user="10000/minute",
        upload_rate_per_ip="10000/minute",
        auth_failure_rate="10000/minute",
    )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_within_its_schema(
    app: Flask, auth: Callable[..., dict[str, str]], mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # An admin: any generated user ID gets past the owner check to the erasure and the export.
    headers = auth("fuzzer", admin=True)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    failures: list[str] = []
    for operation in operations:
        raw = operation.definition.raw
        if mode is GenerationMode.NEGATIVE and not (raw["parameters"] or "requestBody" in raw):
            continue  # nothing to make invalid (the health checks)

        @seed(20261129)
        @hypothesis.settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            # No shrinking: a failure is reported as found (with its curl), in seconds not minutes.
            phases=[Phase.explicit, Phase.generate],
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            fuzz()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then fail
            failures.append(f"{operation.label}: {_describe(exc)}")
    assert not failures, "\n\n".join(failures)


def _describe(exc: BaseException) -> str:
    """Every failure hypothesis found, with schemathesis's reproduction (a curl command)."""
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(_describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"

"""Every knob is documented in the example stack; required ones say so when missing."""

from __future__ import annotations

import re

import pytest

from tests.infra.stackmock import CONFIG, INFRA, run


def test_the_example_stack_names_every_knob_and_the_project() -> None:
    code = (INFRA / "imagepipe_infra" / "config.py").read_text()
    knobs = set(re.findall(r'\.(?:get|require)\w*\("(\w+)"\)', code))
    example = (INFRA / "Pulumi.dev.yaml").read_text()
    documented = set(re.findall(r"imagepipe:(\w+)", example))
    assert knobs - {"region"} <= documented, knobs - documented
    assert len(knobs) > 40
    assert re.search(r"^name: imagepipe$", (INFRA / "Pulumi.yaml").read_text(), re.M)


def test_a_missing_required_value_stops_the_program() -> None:
    without = {k: v for k, v in CONFIG.items() if k != "imagepipe:originDomain"}
    import pulumi

    pulumi.runtime.set_all_config(without)
    from imagepipe_infra.config import StackConfig

    with pytest.raises(pulumi.ConfigMissingError):
        StackConfig.load()


def test_a_stop_timeout_beyond_fargates_limit_is_refused() -> None:
    with pytest.raises(Exception, match="at most 120"):
        run({"imagepipe:workerStopTimeout": "300"})

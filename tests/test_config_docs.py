"""The configuration docs and the committed JSON Schema stay true to the model."""

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML

from trace_harness.config import (
    Config,
    config_from_mapping,
    format_duration,
    json_schema,
    json_schema_text,
    parse_duration,
)
from trace_harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"
SCHEMA = ROOT / "docs" / "trace-harness.schema.json"
REGENERATE = (
    '.venv/bin/python -c "from trace_harness.config import json_schema_text; '
    "print(json_schema_text(), end='')\" > docs/trace-harness.schema.json"
)


def key_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every key of the model, dotted; items of a list of mappings appear as `key[].field`."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path
        for kind in (field.annotation, *get_args(field.annotation)):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                inner = path if kind is field.annotation else f"{path}[]"
                yield from key_paths(kind, f"{inner}.")


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)


def load_yaml(text: str) -> Any:
    return YAML(typ="safe").load(text)


def test_committed_schema_is_the_current_export() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == json_schema_text(), f"schema out of date; regenerate: {REGENERATE}"


def test_regeneration_command_is_documented() -> None:
    assert REGENERATE in DOC.read_text(encoding="utf-8")


def test_key_walk_sees_nested_and_list_keys() -> None:
    paths = set(key_paths(Config))
    assert {"recurrence.min_occurrences", "evidence.actions.workflows", "evidence.rules[].pattern"} <= paths
    assert "evidence.actions" in paths


@pytest.mark.parametrize("path", sorted(key_paths(Config)))
def test_every_key_is_documented(path: str) -> None:
    assert f"`{path}`" in DOC.read_text(encoding="utf-8"), f"docs/configuration.md does not mention `{path}`"


def test_documented_defaults_are_the_defaults() -> None:
    blocks = yaml_blocks(DOC.read_text(encoding="utf-8"))
    defaults = next(block for block in blocks if block.startswith("enabled: true\n"))
    data = load_yaml(defaults)
    assert config_from_mapping(data) == Config()
    assert set(data) == set(Config.model_fields), "the defaults block lists every top-level key"


def test_every_documented_example_is_valid() -> None:
    examples = [load_yaml(block) for block in yaml_blocks(DOC.read_text(encoding="utf-8"))]
    examples = [example for example in examples if example is not None]  # the editor-comment block
    assert len(examples) >= 5
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    for example in examples:
        config_from_mapping(example)
        assert list(validator.iter_errors(example)) == []


def test_documented_reasons_match_the_plan() -> None:
    text = DOC.read_text(encoding="utf-8")
    reasons = ["recurring", "severe", "new-evidence", "regressed", "duplicate-unchanged", "below-threshold"]
    reasons += ["rejected", "muted", "capped", "cooldown", "notify-only", "systemic-merged"]
    assert [reason for reason in reasons if f"`{reason}`" not in text] == []


@pytest.mark.parametrize(
    "bad",
    [
        {"modee": "issue"},
        {"window": "soon"},
        {"window": "P7D"},
        {"cooldown": -5},
        {"mode": "loud"},
        {"labels": {"namespace": "x" * 14}},
    ],
)
def test_schema_and_loader_agree_on_bad_values(bad: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    assert list(validator.iter_errors(bad)) != []
    with pytest.raises(ConfigError):
        config_from_mapping(bad)


def test_schema_defaults_load_back() -> None:
    """An editor inserting a default must write something the loader accepts."""
    properties = json_schema()["properties"]
    defaults = {key: spec["default"] for key, spec in properties.items() if "default" in spec}
    assert set(defaults) == set(Config.model_fields)
    assert config_from_mapping(defaults) == Config()
    assert defaults["window"] == "7d"


def test_json_dump_of_a_config_loads_back() -> None:
    config = config_from_mapping({"window": "90m", "cooldown": 3600 * 36, "systemic": {"within": "2w"}})
    dumped = json.loads(config.model_dump_json())
    assert (dumped["window"], dumped["cooldown"], dumped["systemic"]["within"]) == ("90m", "36h", "14d")
    assert config_from_mapping(dumped) == config


@given(st.integers(min_value=0, max_value=10**8))
def test_format_duration_inverts_parse_duration(seconds: int) -> None:
    duration = timedelta(seconds=seconds)
    assert parse_duration(format_duration(duration)) == duration


def test_bad_rule_regex_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"evidence\.rules\.0\.pattern"):
        config_from_mapping({"evidence": {"rules": [{"pattern": "(", "failure_class": "oom"}]}})

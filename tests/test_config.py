from datetime import timedelta
from pathlib import Path

import pytest

from trace_harness.config import Config, Mode, config_from_mapping, json_schema, load_config
from trace_harness.errors import ConfigError


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.yml")
    assert config == Config()
    assert config.mode is Mode.ISSUE
    assert config.window == timedelta(days=7)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"modee": "issue", "window": "soon", "recurrence": {"min_occurrences": 0}})
    problems = caught.value.problems
    assert len(problems) == 3
    assert any(p.startswith("modee: unknown key") for p in problems)
    assert any(p.startswith("window:") for p in problems)
    assert any(p.startswith("recurrence.min_occurrences:") for p in problems)


def test_yaml_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "trace-harness.yml"
    path.write_text("mode: notify-only\nwindow: 3d\nmute: ['^runner-']\nsystemic: {min_jobs: 4, within: 30m}\n")
    config = load_config(path)
    assert config.mode is Mode.NOTIFY_ONLY
    assert config.window == timedelta(days=3)
    assert config.systemic.within == timedelta(minutes=30)


@pytest.mark.parametrize("text", ["[1, 2]", "key: [unclosed", "mute: ['(']"])
def test_bad_files_raise_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_json_schema_forbids_unknown_keys() -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert "recurrence" in schema["properties"]

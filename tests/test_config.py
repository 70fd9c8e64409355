"""config.py: settings are validated once, with one-line errors."""

from __future__ import annotations

import json

import pytest

from roundtable.config import ArmConfig, BudgetConfig, DataConfig, arm_defaults, load_config_file, parse_arms
from roundtable.errors import UserError


def test_arm_defaults_and_overrides():
    a = arm_defaults("scratch-lstm", lstm_hidden=16)
    assert (a.learning_rate, a.batch_size, a.lstm_hidden, a.tokenizer) == (1e-2, 8, 16, "byte")
    assert arm_defaults("finetune").uses_pretrained and not a.uses_pretrained


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"name": "gpt5"}, "unknown arm"),
        ({"name": "scratch-lstm", "batch_size": 0}, "batch_size must be positive"),
        ({"name": "scratch-lstm", "eval_stride": 0.0}, "eval_stride"),
        ({"name": "scratch-lstm", "tokenizer": "wordpiece"}, "tokenizer must be byte or bpe"),
        ({"name": "scratch-transformer", "n_embd": 30, "n_head": 4}, "divisible"),
    ],
)
def test_arm_config_rejects(kw, match):
    with pytest.raises(UserError, match=match):
        ArmConfig(**kw)


def test_block_size_of_one_is_rejected():
    with pytest.raises(UserError):
        ArmConfig(name="scratch-lstm", block_size=1)


def test_parse_arms_with_settings():
    arms = parse_arms("finetune, scratch-lstm", {"scratch-lstm": {"lstm_hidden": 8}})
    assert [a.name for a in arms] == ["finetune", "scratch-lstm"] and arms[1].lstm_hidden == 8
    with pytest.raises(UserError, match="unknown setting"):
        parse_arms("scratch-lstm", {"scratch-lstm": {"hidden": 8}})


def test_budget_and_data_config_validation():
    with pytest.raises(UserError, match="--budget or --max-steps"):
        BudgetConfig(seconds=None, max_steps=None)
    with pytest.raises(UserError, match="--max-steps must be positive"):
        BudgetConfig(seconds=None, max_steps=-1)
    with pytest.raises(UserError, match="--valid-fraction"):
        DataConfig(path="x", valid_fraction=1.0)


def test_load_config_file(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("max-steps: 3\narm_settings:\n  scratch-lstm: {lstm_hidden: 16}\n", encoding="utf-8")
    assert load_config_file(str(y)) == {"max_steps": 3, "arm_settings": {"scratch-lstm": {"lstm_hidden": 16}}}
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"budget": "10s"}), encoding="utf-8")
    assert load_config_file(str(j)) == {"budget": "10s"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n", encoding="utf-8")
    with pytest.raises(UserError, match="cannot parse config"):
        load_config_file(str(bad))
    lst = tmp_path / "list.json"
    lst.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(UserError, match="must be a mapping"):
        load_config_file(str(lst))
    with pytest.raises(UserError, match="config file not found"):
        load_config_file(str(tmp_path / "nope.yaml"))

"""config.py: settings are validated once, with one-line errors."""

from __future__ import annotations

import json
import typing
from dataclasses import fields, is_dataclass

import pytest

from roundtable.arms import arm_defaults, default_arms, parse_arms, uses_pretrained
from roundtable.comparison.settings import compare_config
from roundtable.config.settings import (
    ArmConfig,
    BudgetConfig,
    CompareConfig,
    DataConfig,
    SearchConfig,
    load_config_file,
    settings,
)
from roundtable.core.errors import UserError

SET_BY_BUDGET = {"tokens", "bytes", "flops"}
"""BudgetConfig fields without a flag of their own: ``--budget 5Mtok`` or ``2e15flop`` sets them."""


def test_arm_defaults_and_overrides():
    a = arm_defaults("scratch-lstm", lstm_hidden=16)
    assert (a.learning_rate, a.batch_size, a.lstm_hidden, a.tokenizer) == (1e-2, 8, 16, "byte")
    assert uses_pretrained("finetune") and not uses_pretrained(a.name)
    with pytest.raises(UserError, match="unknown arm 'gpt5'"):  # the arm table checks the name
        arm_defaults("gpt5")


@pytest.mark.parametrize(
    "kw,match",
    [
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


# -- each setting defined once: a dataclass field with its help --------------------------


def test_every_setting_is_a_field_with_help_and_a_flag():
    for cls in (CompareConfig, DataConfig, BudgetConfig, SearchConfig):
        for f in fields(cls):
            if is_dataclass(typing.get_type_hints(cls)[f.name]):
                continue  # a nested group: its fields are the settings
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help: define it with setting(...)"
            flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
            assert (flag is None) == (cls is BudgetConfig and f.name in SET_BY_BUDGET), (cls.__name__, f.name)
    flags = [s.flag for s in settings()]
    assert len(flags) == len(set(flags)) and "--lr-search-tie" in flags and "--data" in flags


def test_fields_convert_their_values_by_type_with_one_line_errors():
    assert DataConfig(path="x", valid_fraction="0.2", skip_bad_records="yes").valid_fraction == 0.2
    assert SearchConfig(rates="5", tie=0).rates == 5
    assert BudgetConfig(seconds=60, max_steps=10.0).seconds == 60.0  # a YAML 10.0 is the integer 10
    assert ArmConfig(name="scratch-lstm", learning_rate="5e-5").learning_rate == 5e-5  # YAML reads 5e-5 as text
    for make, message in [
        (lambda: SearchConfig(rates="many"), "cannot parse --lr-search 'many': give an integer"),
        (lambda: SearchConfig(rates=3, share=0.25), "would take 75% of each budget; keep it to 50% or less"),
        (lambda: BudgetConfig(max_steps=True), "cannot parse --max-steps True"),
        (lambda: BudgetConfig(max_steps=2.5), "cannot parse --max-steps 2.5"),
        (lambda: DataConfig(path="x", encoding_errors="ignore"), "--encoding-errors must be one of strict, replace"),
        (lambda: ArmConfig(name="scratch-lstm", batch_size="big"), "arm scratch-lstm: cannot parse batch_size 'big'"),
        (lambda: compare_config({"task": "lm", "data": "x", "fractions": {"a": 1}}), "cannot parse --fractions"),
    ]:
        with pytest.raises(UserError, match=message):
            make()


def test_compare_config_distributes_settings_by_name():
    cfg = compare_config({"task": "lm", "data": "d.txt", "lr_search": "0", "lr_search_tie": 0.1, "budget": "2e15flop",
                          "split_seed": 3, "eval_batch_size": "2", "report_to": "tensorboard, mlflow"})
    assert (cfg.lr_search.rates, cfg.lr_search.tie, cfg.data.split_seed, cfg.eval_batch_size) == (0, 0.1, 3, 2)
    assert (cfg.budget.seconds, cfg.budget.flops) == (None, 2e15) and cfg.report_to == ["tensorboard", "mlflow"]
    assert compare_config({"task": "lm", "data": "d.txt"}) == CompareConfig(
        task="lm", data=DataConfig(path="d.txt"), arms=parse_arms(",".join(default_arms())))
    with pytest.raises(UserError, match="unknown --task 'translate'; choose from lm, summarize"):
        compare_config({"task": "translate", "data": "d.txt"})
    with pytest.raises(UserError, match="--arms is empty"):
        compare_config({"task": "lm", "data": "d.txt", "arms": ","})
    with pytest.raises(UserError, match="arm_settings must map arm names to settings"):
        compare_config({"task": "lm", "data": "d.txt", "arm_settings": {"scratch-lstm": 3}})


def test_budget_in_tokens_or_flops_reads_what_python_writes():
    from roundtable.config.settings import parse_budget_spec

    assert parse_budget_spec("5Mtok") == ("tokens", 5e6) and parse_budget_spec("200ktok") == ("tokens", 2e5)
    assert parse_budget_spec("1e+06tok") == ("tokens", 1e6)  # f"{1e6:g}tok", as a script formats it
    assert parse_budget_spec("2e15flop") == ("flops", 2e15) and parse_budget_spec("90s") == ("seconds", 90.0)


@pytest.mark.parametrize("values,start,end", [
    ({"max_step": 3}, "unknown setting(s): max_step", "; did you mean max_steps?"),
    ({"arm_settings": {"scratch-lstm": {"lstm_hiden": 64}}}, "unknown setting(s) for arm scratch-lstm: lstm_hiden",
     "; did you mean lstm_hidden?"),
    ({"arms": "scratch-lstm,fintune"}, "unknown arm 'fintune'; choose from ", "; did you mean finetune?"),
    ({"arm_settings": {"finetune-lroa": {"lora_r": 8}}}, "arm_settings: unknown arm 'finetune-lroa'",
     "; did you mean finetune-lora?"),
    ({"arms": "scratch-lstm#x"}, "arm 'scratch-lstm#x': a copy of an arm is NAME#K", "e.g. scratch-lstm#2"),
    ({"sedes_of_everything": 1}, "unknown setting(s): sedes_of_everything", "sedes_of_everything"),  # nothing close
])
def test_a_misspelt_name_gets_the_closest_known_one(values, start, end):
    with pytest.raises(UserError) as e:
        compare_config({"task": "lm", "data": "d.txt", **values})
    assert str(e.value).startswith(start) and str(e.value).endswith(end), str(e.value)


def test_arm_settings_for_an_arm_not_compared_this_time_are_allowed():
    """One config file for several comparisons: settings of a registered arm left out of --arms are no error."""
    cfg = compare_config({"task": "lm", "data": "d.txt", "arms": "scratch-lstm",
                          "arm_settings": {"finetune": {"learning_rate": 1e-4}, "scratch-lstm": {"lstm_hidden": 64}}})
    assert [a.name for a in cfg.arms] == ["scratch-lstm"] and cfg.arms[0].lstm_hidden == 64


def test_an_arms_settings_are_its_recipe_and_its_own_not_another_arms():
    """An LSTM's hidden size given to the fine-tune arm would be recorded in its recipe and
    change nothing: one line naming whose setting it is and what the arm takes."""
    from roundtable.arms import get_arm
    from roundtable.config.settings import RECIPE

    with pytest.raises(UserError) as e:
        compare_config({"task": "lm", "data": "d.txt", "arms": "finetune,scratch-lstm",
                        "arm_settings": {"finetune": {"lstm_hidden": 64}}})
    assert str(e.value).startswith("arm finetune: lstm_hidden is a setting of scratch-lstm, not of finetune, "
                                   "whose own settings are none (besides the recipe every arm takes: learning_rate")
    with pytest.raises(UserError, match="arm finetune-lora#2: n_head is a setting of scratch-transformer, not of "
                                        "finetune-lora#2, whose own settings are lora_r, lora_alpha"):
        compare_config({"task": "lm", "data": "d.txt", "arms": "finetune-lora#2",
                        "arm_settings": {"finetune-lora": {"n_head": 2}}})
    cfg = compare_config({"task": "lm", "data": "d.txt", "arms": "finetune-lora,scratch-transformer",
                          "arm_settings": {"finetune-lora": {"lora_r": 4, "learning_rate": 1e-3},
                                           "scratch-transformer": {"n_head": 2, "tokenizer": "bpe"}}})
    assert (cfg.arms[0].lora_r, cfg.arms[0].learning_rate, cfg.arms[1].n_head) == (4, 1e-3, 2)
    assert get_arm("scratch-transformer").takes() == (*RECIPE, "tokenizer", "bpe_vocab_size", "n_layer", "n_embd",
                                                      "n_head", "size", "dropout")


def test_an_arm_declares_only_armconfig_fields_outside_the_recipe_as_its_own():
    from roundtable.arms import ArmSpec

    def row(**kw):
        return ArmSpec("x", "scratch", "x", "x", lambda *a: None, lambda *a: None, lambda m, a: "x", **kw)

    assert row(settings=("lstm_hidden",)).takes()[-1] == "lstm_hidden"
    for kw in ({"settings": ("lstm_hiden",)}, {"settings": ("learning_rate",)}, {"defaults": {"lora_r": 2}}):
        with pytest.raises(ValueError, match="arm x: (settings|defaults) must"):
            row(**kw)


def test_every_setting_has_a_help_section_and_summarize_settings_share_one():
    from roundtable.config.settings import SECTIONS

    assert all(s.section in SECTIONS for s in settings()), [(s.name, s.section) for s in settings()]
    assert {s.name for s in settings() if s.section == "summarize"} == {
        "document_field", "summary_field", "max_document_bytes", "max_summary_bytes", "rouge_examples", "num_beams"}


def test_a_tasks_own_setting_changed_for_another_task_is_refused():
    # summarize's cuts and fields would be silently ignored by --task lm: say so instead
    with pytest.raises(UserError, match=r"^--max-summary-bytes 64: a setting of --task summarize, not of --task lm$"):
        compare_config({"task": "lm", "data": "d.txt", "max_summary_tokens": "64"})
    with pytest.raises(UserError, match="--document-field doc: a setting of --task summarize"):
        compare_config({"task": "lm", "data": "d.txt", "document_field": "doc"})
    # its default given again (a resumed comparison's settings hold every value) is no mistake
    assert compare_config({"task": "lm", "data": "d.txt", "max_summary_tokens": 128}).max_summary_tokens == 128
    assert compare_config({"task": "summarize", "data": "d.jsonl", "max_summary_tokens": "64"}).max_summary_tokens == 64

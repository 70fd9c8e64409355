"""cli.py: every mistake in the user's input is one line on stderr and exit code 2, no traceback."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import typing
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

import pytest

from roundtable.comparison.settings import compare_config
from roundtable.config.settings import ArmConfig, BudgetConfig, CompareConfig, DataConfig, SearchConfig, settings
from roundtable.core.errors import UserError
from tests.helpers import results_stub, write_paragraphs, write_yaml

ERROR = "roundtable: error: "


@pytest.fixture(scope="module")
def files(tmp_path_factory, paragraphs, tiny_config) -> dict:
    d = tmp_path_factory.mktemp("cli")
    return {
        "train": write_paragraphs(d / "train.txt", paragraphs[:40]),
        "valid": write_paragraphs(d / "valid.txt", paragraphs[300:310]),
        "config": tiny_config,
    }


def compare_argv(files: dict, out: Path, **flags) -> list[str]:
    """A compare command that would run (scratch-lstm, one step); ``flags`` replace or add options."""
    opts = {
        "task": "lm", "data": files["train"], "valid": files["valid"], "arms": "scratch-lstm",
        "config": files["config"], "max-steps": "1", "out": out, "device": "cpu",
    }
    opts.update({k.replace("_", "-"): v for k, v in flags.items()})
    argv = ["compare", "--no-progress"]
    for k, v in opts.items():
        if v is not None:
            argv += [f"--{k}", str(v)]
    return argv


def write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def jsonl(path: Path, *lines) -> Path:
    return write(path, "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")


UNDECODABLE = b"First paragraph.\n\nSecond \xff paragraph.\n"


def case_undecodable(tmp, files):
    p = write(tmp / "latin1.txt", UNDECODABLE)
    offset = UNDECODABLE.index(b"\xff")  # 25: "First paragraph.\n" (17) + "\n" (1) + "Second " (7)
    return compare_argv(files, tmp / "out", data=p), [f"{p}:3:", f"byte offset {offset}", "0xff"]


def case_out_different(tmp, files, resume: bool):
    out = tmp / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(results_stub(config_key={"task": "lm", "seeds": 7})))
    argv = compare_argv(files, out) + (["--resume"] if resume else [])
    if resume:
        return argv, ["holds a different comparison; cannot --resume it (pass --overwrite to replace it, or another "
                      "--out)"]
    return argv, ["holds a different comparison; pass --overwrite to replace it, or another --out"]


CASES = {
    "missing path": lambda t, f: (compare_argv(f, t / "out", data=t / "nope.txt"), [f"no such file or folder: {t}"]),
    "empty file": lambda t, f: (compare_argv(f, t / "out", data=write(t / "e.txt", "")), ["file is empty"]),
    "whitespace only": lambda t, f: (
        compare_argv(f, t / "out", data=write(t / "w.txt", " \n\t\n\n  ")), ["only whitespace"]
    ),
    "undecodable bytes": case_undecodable,
    "binary file": lambda t, f: (
        compare_argv(f, t / "out", data=write(t / "img.txt", b"GIF89a\x00\x01\x02 binary\n\nmore")),
        ["binary file (NUL bytes)"],
    ),
    "malformed json line": lambda t, f: (
        compare_argv(f, t / "out", data=jsonl(t / "m.jsonl", {"text": "fine"}, '{"text": "unterminated}')),
        [f"{t / 'm.jsonl'}:2: malformed JSON line"],
    ),
    "malformed json file": lambda t, f: (
        compare_argv(f, t / "out", data=write(t / "m.json", '[\n{"text": "a"},\n{"text": }\n]')),
        [f"{t / 'm.json'}:3: malformed JSON"],
    ),
    "missing field": lambda t, f: (
        compare_argv(f, t / "out", data=jsonl(t / "f.jsonl", {"text": "ok"}, {"body": "no text field"})),
        [f"{t / 'f.jsonl'}:2: missing field 'text' (fields found: body) (pass --skip-bad-records to skip such records)"],
    ),
    "missing --text-field": lambda t, f: (
        compare_argv(f, t / "out", data=jsonl(t / "g.jsonl", {"text": "ok"}), text_field="content"),
        [f"{t / 'g.jsonl'}:1: no record has a field 'content' (fields found: text); choose one with --text-field NAME"],
    ),
    "non-string field": lambda t, f: (
        compare_argv(f, t / "out", data=jsonl(t / "n.jsonl", {"text": 42})),
        [f"{t / 'n.jsonl'}:1: field 'text' is a int, not a string"],
    ),
    "csv without the column": lambda t, f: (
        compare_argv(f, t / "out", data=write(t / "c.csv", "body,id\nhello,1\n")),
        [f"{t / 'c.csv'}:1: no column 'text' (columns: body, id); choose one with --text-field NAME"],
    ),
    "summarize csv without the document column": lambda t, f: (
        compare_argv(f, t / "out", task="summarize", data=write(t / "s.csv", "article,summary\nlong text,short\n")),
        [f"{t / 's.csv'}:1: no column 'document' (columns: article, summary); choose one with --document-field NAME"],
    ),
    "same file as train and valid": lambda t, f: (
        compare_argv(f, t / "out", valid=f["train"]), ["--data and --valid are the same file"]
    ),
    "same file by another path": lambda t, f: (
        compare_argv(f, t / "out", valid=Path(f["train"]).parent / "." / Path(f["train"]).name),
        ["--data and --valid are the same file"],
    ),
    "unparsable --budget": lambda t, f: (compare_argv(f, t / "out", budget="soon"), ["cannot parse --budget 'soon'"]),
    "--budget without a unit": lambda t, f: (
        compare_argv(f, t / "out", budget="10"), ["--budget '10' has no unit: use seconds (90s, 10m, 1.5h)"]
    ),
    "unknown arm": lambda t, f: (compare_argv(f, t / "out", arms="scratch-lstm,gpt5"), ["unknown arm 'gpt5'"]),
    "misspelt arm": lambda t, f: (compare_argv(f, t / "out", arms="scratch-lstn"), ["did you mean scratch-lstm?"]),
    "misspelt arm setting": lambda t, f: (
        compare_argv(f, t / "out", config=write_yaml(t / "c.yaml", {"arm_settings": {"scratch-lstm": {"lstm_hiden": 3}}})),
        ["unknown setting(s) for arm scratch-lstm: lstm_hiden; did you mean lstm_hidden?"],
    ),
    "misspelt arm under arm_settings": lambda t, f: (
        compare_argv(f, t / "out", config=write_yaml(t / "c.yaml", {"arm_settings": {"scratch-lsmt": {"dropout": 0.1}}})),
        ["arm_settings: unknown arm 'scratch-lsmt'", "did you mean scratch-lstm?"],
    ),
    "data too small for one block": lambda t, f: (
        compare_argv(f, t / "out", data=write(t / "tiny.txt", "Hi.\n\nYo.\n")),
        ["too small for one training block of arm scratch-lstm", "< block size "],
    ),
    "model not found offline": lambda t, f: (
        compare_argv(f, t / "out", arms="finetune", model="no-such-org/no-such-model"),
        ["'no-such-org/no-such-model' cannot be found offline"],
    ),
    "model folder without config.json": lambda t, f: (
        compare_argv(f, t / "out", arms="finetune", model=t), ["model folder has no config.json"]
    ),
    "out holds a different comparison (--resume)": lambda t, f: case_out_different(t, f, resume=True),
    "out holds a comparison": lambda t, f: case_out_different(t, f, resume=False),
    "out not empty": lambda t, f: (compare_argv(f, write(t / "x", "x").parent), ["exists and is not empty"]),
    "config file not found": lambda t, f: (compare_argv(f, t / "out", config=t / "c.yaml"), ["config file not found"]),
    "unknown config setting": lambda t, f: (
        compare_argv(f, t / "out", config=write_yaml(t / "c.yaml", {"max_step": 3})), ["unknown setting(s): max_step"]
    ),
    "summarize from a txt file": lambda t, f: (
        compare_argv(f, t / "out", task="summarize"), ["summarize needs .jsonl, .json or .csv records"]
    ),
    "valid fraction out of range": lambda t, f: (
        compare_argv(f, t / "out", valid=None, valid_fraction="1.5"), ["--valid-fraction must be between 0 and 1"]
    ),
    "unparsable --fractions": lambda t, f: (compare_argv(f, t / "out", fractions="half"), ["cannot parse --fractions"]),
    "invalid --task (argparse)": lambda t, f: (compare_argv(f, t / "out", task="translate"), ["invalid choice"]),
    "no --data": lambda t, f: (compare_argv(f, t / "out", data=None, valid=None), ["give --data PATH"]),
    "generate without results": lambda t, f: (["generate", str(t), "--arm", "finetune", "--prompt", "x"], ["no results.json"]),
    "report without results": lambda t, f: (["report", str(t)], ["no results.json"]),
}


@pytest.fixture
def offline(monkeypatch):
    """Fail hub look-ups at once: huggingface_hub otherwise retries for ~25 s before giving up."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def check_one_error_line(rc: int, err: str, expected: list[str]) -> str:
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith(ERROR)]
    assert len(errors) == 1, err
    assert lines[-1] == errors[0], err  # the error is the last word
    for fragment in expected:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_exit_2(name, tmp_path, files, run_cli, offline):
    argv, expected = CASES[name](tmp_path, files)
    rc, out, err = run_cli(argv)
    check_one_error_line(rc, err, expected)
    assert len(err.strip().splitlines()) == 1, err  # the error line is all there is on stderr


def test_input_errors_are_found_before_torch_or_transformers_is_imported(tmp_path, files):
    """Flags, settings and data files are checked first: an error costs no seconds of imports."""
    csv_file = write(tmp_path / "tickets.csv", "body,id\nmy printer is on fire,1\n")
    bad = {
        "argparse": ["compare", "--task", "translate"],
        "missing data": compare_argv(files, tmp_path / "out", data=tmp_path / "nope.txt"),
        "csv column": compare_argv(files, tmp_path / "out", data=csv_file),
        "budget unit": compare_argv(files, tmp_path / "out", budget="10"),
        "arm setting": compare_argv(files, tmp_path / "out",
                                    config=write_yaml(tmp_path / "c.yaml", {"arm_settings": {"scratch-lstm": {"lstm_hiden": 3}}})),
        "report folder": ["report", str(tmp_path / "no-such-run")],
    }
    code = (
        "import sys, json\n"
        "from roundtable.cli import main\n"
        "try:\n    rc = main(json.loads(sys.argv[1]))\nexcept SystemExit as e:\n    rc = e.code\n"
        "print(json.dumps([rc, sorted({'torch', 'transformers'} & set(sys.modules))]))\n"
    )
    for name, argv in bad.items():
        proc = subprocess.run([sys.executable, "-c", code, json.dumps([str(a) for a in argv])], capture_output=True,
                              text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        rc, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
        assert rc == 2 and heavy == [], (name, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("roundtable: error: "), (name, proc.stderr)


def roundtable_script() -> str:
    script = Path(sys.executable).parent / "roundtable"
    if script.is_file():
        return str(script)
    found = shutil.which("roundtable")
    if not found:
        pytest.skip("the roundtable console script is not installed")
    return found


def test_subprocess_undecodable_bytes_no_traceback(tmp_path, files):
    argv, expected = case_undecodable(tmp_path, files)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([roundtable_script(), *argv], capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in proc.stderr
    check_one_error_line(proc.returncode, proc.stderr, expected)
    assert proc.stdout == ""


def test_subprocess_python_m_argparse_error():
    proc = subprocess.run(
        [sys.executable, "-m", "roundtable", "compare", "--task", "translate"], capture_output=True, text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(ERROR) and len(proc.stderr.strip().splitlines()) == 1


def test_unreachable_hub_id_gives_only_roundtable_lines(tmp_path, files, run_cli, monkeypatch, caplog):
    import logging
    import time

    import huggingface_hub.constants as hc

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    endpoint = "https://hub.roundtable-test.invalid"  # .invalid never resolves (RFC 2606), network or not
    monkeypatch.setattr(hc, "ENDPOINT", endpoint)
    monkeypatch.setattr(hc, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(time, "sleep", lambda s: None)  # skip the back-off waits, keep their messages
    argv, expected = CASES["model not found offline"](tmp_path, files)
    with caplog.at_level(logging.INFO):
        rc, out, err = run_cli(argv)
    check_one_error_line(rc, err, expected)
    assert all(line.startswith("roundtable: ") for line in err.strip().splitlines()), err
    # where the library's warnings end up depends on logging handlers (pytest installs its own): check the source
    hub_warnings = [r.getMessage() for r in caplog.records if r.name.startswith("huggingface_hub")]
    assert not [m for m in hub_warnings if "Retrying" in m or "thrown while requesting" in m], hub_warnings[:4]


# -- settings that compare_config turns into a CompareConfig --------------------------------


def test_config_file_and_flags(tmp_path, files):
    cfg = compare_config({
        "task": "lm", "data": "d.txt", "max_steps": 5, "arms": ["scratch-lstm", "finetune"], "fractions": "1,0.5",
        "arm_settings": {"scratch-lstm": {"lstm_hidden": 16}},
    })
    assert cfg.budget.max_steps == 5 and cfg.budget.seconds is None  # max steps alone: no wall-clock default
    assert [a.name for a in cfg.arms] == ["scratch-lstm", "finetune"] and cfg.arms[0].lstm_hidden == 16
    assert cfg.fractions == [0.5, 1.0]
    assert compare_config({"task": "lm", "data": "d.txt"}).budget.seconds == 120.0


def test_max_steps_zero_is_rejected():
    with pytest.raises(UserError, match="--max-steps must be positive"):
        compare_config({"task": "lm", "data": "d.txt", "max_steps": 0})


@pytest.mark.parametrize(
    "settings,expected",
    [
        ({"seeds": "two"}, "cannot parse --seeds 'two': give an integer"),
        ({"valid_fraction": "tenth"}, "cannot parse --valid-fraction 'tenth': give a number"),
        ({"lr-search-tie": [1]}, "cannot parse --lr-search-tie [1]: give a number"),
        ({"resume": "maybe"}, "cannot parse --resume 'maybe': give true or false"),
        ({"keep_models": "some"}, "--keep-models must be one of all, best, none, got 'some'"),
        ({"arm_settings": {"scratch-lstm": {"batch_size": "big"}}}, "arm scratch-lstm: cannot parse batch_size 'big'"),
    ],
    ids=["seeds", "valid_fraction", "lr-search-tie", "resume", "keep_models", "arm batch_size"],
)
def test_wrongly_typed_config_value_is_a_user_error(settings, expected, tmp_path, files, run_cli):
    config = write_yaml(tmp_path / "c.yaml", settings)
    rc, out, err = run_cli(compare_argv(files, tmp_path / "out", config=config))
    check_one_error_line(rc, err, [expected])


# -- the command line is built from config.py's dataclasses ---------------------------------


def help_entries(text: str) -> dict[str, str]:
    """Each option of an argparse --help, with its help text on one line."""
    entries: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"  (--[\w-]+)", line)
        if m:
            current = m.group(1)
            entries[current] = line
        elif current and line.startswith("    "):  # the help text goes on, indented
            entries[current] += " " + line
        else:
            current = None
    return {k: " ".join(v.split()) for k, v in entries.items()}


def shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(x.name if isinstance(x, ArmConfig) else shown(x) for x in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_compare_help_shows_every_setting_with_its_dataclass_default(run_cli):
    rc, out, _ = run_cli(["compare", "--help"])
    assert rc == 0
    entries = help_entries(out)
    checked = 0
    for cls in (CompareConfig, DataConfig, BudgetConfig, SearchConfig):
        for f in fields(cls):
            if is_dataclass(typing.get_type_hints(cls)[f.name]):
                continue  # a nested group
            flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
            if flag is None:  # tokens, bytes, flops: --budget sets them
                assert f.name in ("tokens", "bytes", "flops") and all(
                    unit in entries["--budget"] for unit in ("tok", "5MB", "flop"))
                continue
            assert flag in entries, f"{cls.__name__}.{f.name}: no {flag} in compare --help"
            help_text = entries[flag]
            default = f.default_factory() if f.default is MISSING and f.default_factory is not MISSING else f.default
            if default is MISSING:
                assert help_text.endswith("(required, here or in --config)"), help_text
            elif default is None:
                assert re.search(r"\(default [^)]+\)$", help_text), help_text
            elif flag == "--budget":
                assert help_text.endswith(f"(default {default:g}s)"), help_text
            elif flag == "--arms":  # the settings know no arm: the arm table's default arms
                from roundtable.arms import default_arms

                assert default == [] and help_text.endswith(f"(default {','.join(default_arms())})"), help_text
            else:
                assert help_text.endswith(f"(default {shown(default)})"), help_text
            checked += 1
    assert checked == len(settings()) and checked > 35
    assert "(default 768)" in entries["--max-document-bytes"] and "(default 0.02)" in entries["--lr-search-tie"]
    # the per-arm settings: where they are set, and each arm's recipe where it differs
    assert "arm_settings" in out and "lstm_hidden 128" in out and "scratch-lstm 0.01" in out
    assert all(f"  {f.name} " in out for f in fields(ArmConfig) if f.name != "name")


def help_groups(text: str) -> dict[str, list[str]]:
    """The options of each titled group of an argparse --help."""
    groups: dict[str, list[str]] = {}
    title = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            title = line[:-1]
            groups[title] = []
        elif title and (m := re.match(r"  (--[\w-]+)", line)):
            groups[title].append(m.group(1))
    return groups


def test_compare_help_groups_flags_by_what_the_user_decides_without_code_names(run_cli):
    rc, out, _ = run_cli(["compare", "--help"])
    assert rc == 0
    groups = help_groups(out)
    assert list(groups)[:9] == ["options", "your data", "summarize only (--task summarize)", "arms", "budget",
                                "evidence", "deployment limit", "output", "machine and scale-out"]
    assert groups["deployment limit"] == ["--max-params", "--min-gen-tokens-per-s"]
    assert groups["summarize only (--task summarize)"] == [
        "--document-field", "--summary-field", "--max-document-bytes", "--max-summary-bytes", "--rouge-examples",
        "--num-beams"]
    assert {"--data", "--valid", "--text-field", "--skip-bad-records"} <= set(groups["your data"])
    assert {"--budget", "--max-steps", "--lr-search"} <= set(groups["budget"])
    assert {"--seeds", "--forecast-budget", "--curve-points"} <= set(groups["evidence"])
    assert {"--shard", "--device"} <= set(groups["machine and scale-out"])
    # no module, class or function names: the reader has not read the code
    code = re.compile(r"\w+\.py\b|\b\w*Config\b|Comparison|arm_defaults|lrsearch|roundtable/|tasks/|[a-z]+\.[a-z]+\(")
    assert not code.findall(out), code.findall(out)
    assert "--max-document-tokens" not in out and len(out.splitlines()) < 220


def test_the_old_byte_limit_names_still_set_the_same_setting(tmp_path):
    from roundtable.cli import _settings, build_parser

    base = ["compare", "--task", "summarize", "--data", "d.jsonl"]
    new = compare_config(_settings(build_parser().parse_args([*base, "--max-document-bytes", "300",
                                                              "--max-summary-bytes", "40"])))
    old = compare_config(_settings(build_parser().parse_args([*base, "--max-document-tokens", "300",
                                                              "--max-summary-tokens", "40"])))
    by_file = compare_config(_settings(build_parser().parse_args(
        [*base, "--config", str(write_yaml(tmp_path / "c.yaml", {"max_document_tokens": 300, "max-summary-bytes": 40}))])))
    assert new == old == by_file and (new.max_document_tokens, new.max_summary_tokens) == (300, 40)


def test_demo_help_shows_the_demo_defaults(run_cli):
    rc, out, _ = run_cli(["demo", "--help"])
    entries = help_entries(out)
    assert rc == 0 and "--data" not in entries and "--config" not in entries
    assert entries["--task"].endswith("(default lm)") and entries["--budget"].endswith("(default 120s)")
    assert entries["--curve-eval-bytes"].endswith("(default 12000)")
    assert entries["--out"].endswith("(default roundtable-demo)")
    assert entries["--curve-points"].endswith("(default 3)")  # as compare


@pytest.mark.parametrize(
    "flag,value,in_file",
    [
        ("--seeds", "2", 2),
        ("--seeds", "2", "2"),
        ("--valid-fraction", "0.25", 0.25),
        ("--lr-search", "0", 0),
        ("--lr-search-tie", "0.05", 0.05),
        ("--fractions", "0.5,1", [0.5, 1]),
        ("--report-to", "tensorboard,mlflow", ["tensorboard", "mlflow"]),
        ("--arms", "scratch-lstm,finetune", "scratch-lstm, finetune"),
        ("--budget", "5Mtok", "5Mtok"),
        ("--max-steps", "7", 7.0),
        ("--skip-bad-records", None, True),
        ("--resume", None, "yes"),
        ("--forecast-budget", None, "10x"),
        ("--precision", "fp32", "fp32"),
    ],
)
def test_a_flag_and_a_config_file_set_a_setting_alike(flag, value, in_file, tmp_path):
    from roundtable.cli import _settings, build_parser

    base = ["compare", "--task", "lm", "--data", "d.txt"]
    by_flag = compare_config(_settings(build_parser().parse_args(base + [flag] + ([value] if value else []))))
    config = write_yaml(tmp_path / "c.yaml", {flag[2:]: in_file})  # dashes, as the flag
    by_file = compare_config(_settings(build_parser().parse_args([*base, "--config", str(config)])))
    # the same values of the same types (2 and 2.0 differ as JSON)
    assert json.dumps(by_flag.to_dict()) == json.dumps(by_file.to_dict())
    assert by_flag != compare_config({"task": "lm", "data": "d.txt"})  # the setting took effect


def test_a_flag_overrides_the_config_file_and_an_absent_flag_does_not(tmp_path):
    from roundtable.cli import _settings, build_parser

    config = write_yaml(tmp_path / "c.yaml", {"seeds": 3, "lr_search_share": 0.15, "overwrite": True})
    args = build_parser().parse_args(["compare", "--task", "lm", "--data", "d.txt", "--config", str(config),
                                      "--seeds", "4"])
    cfg = compare_config(_settings(args))
    assert (cfg.seeds, cfg.lr_search.share, cfg.overwrite) == (4, 0.15, True)


@pytest.fixture(scope="module")
def lowercasing_model(tmp_path_factory, tiny_pretrained) -> Path:
    """The tiny pretrained model with a tokenizer that lower-cases: it scores other text."""
    from tokenizers import normalizers
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("lossy")
    for f in tiny_pretrained.iterdir():
        shutil.copy(f, folder / f.name)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.backend_tokenizer.normalizer = normalizers.Lowercase()
    tok.save_pretrained(folder)
    return folder


def test_lossy_tokenizer_is_refused_naming_arm_and_document(tmp_path, files, lowercasing_model, run_cli):
    argv = compare_argv(files, tmp_path / "out", arms="finetune", model=lowercasing_model)
    rc, _, err = run_cli(argv)
    assert rc == 2 and err.count("\n") == 1, err
    assert "arm finetune" in err and f"{files['valid']}:1" in err and "--allow-lossy-tokenizer" in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_lossy_tokenizer_accepted_on_request_is_recorded(tmp_path, files, lowercasing_model, run_cli):
    argv = compare_argv(files, tmp_path / "out", arms="finetune,scratch-lstm", model=lowercasing_model)
    rc, _, err = run_cli([*argv, "--allow-lossy-tokenizer"])
    assert rc == 0, err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    lossless = {r["arm"]: r["tokenizer_lossless"] for r in results["runs"]}
    assert lossless == {"finetune": False, "scratch-lstm": True}
    assert any("finetune" in w and "tokenizer" in w for w in results["verdict"]["warnings"])


def test_resume_after_the_data_changed_is_refused(tmp_path, files, paragraphs, run_cli):
    train = write_paragraphs(tmp_path / "train.txt", paragraphs[:40])
    argv = compare_argv(files, tmp_path / "out", data=train)
    assert run_cli(argv)[0] == 0
    write_paragraphs(train, paragraphs[:39] + ["A paragraph that was edited after the comparison ran."])
    rc, _, err = run_cli([*argv, "--resume"])
    assert rc == 2 and err.count("\n") == 1 and "data files changed" in err, err
    write_paragraphs(train, paragraphs[:40])  # the same text again: resuming is fine
    assert run_cli([*argv, "--resume"])[0] == 0


def test_output_to_a_file_is_plain_lines(tmp_path, files):
    """Not a terminal (CI, nohup, Slurm): no progress bars, one line per curve point and per run."""
    argv = compare_argv(files, tmp_path / "out", arms="scratch-lstm,scratch-transformer", max_steps="4",
                        curve_points="1")
    argv.remove("--no-progress")
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    with open(tmp_path / "log.txt", "w") as log:
        done = subprocess.run([sys.executable, "-m", "roundtable", *argv], stdout=log, stderr=subprocess.STDOUT,
                              env=env, timeout=300)
    assert done.returncode == 0
    text = (tmp_path / "log.txt").read_text()
    assert "\r" not in text and "it/s" not in text  # no bar redraws
    lines = text.splitlines()
    assert len(lines) < 60
    for arm in ("scratch-lstm", "scratch-transformer"):
        points = [x for x in lines if x.startswith(f"  {arm}-seed0-frac1 step ")]
        assert len(points) == 3, lines  # step 0, one intermediate point, the final one
        assert any(x.startswith(f"  {arm}-seed0-frac1: 4 steps") for x in lines)


def test_a_token_budget_stops_at_the_nearest_step_and_is_recorded(tmp_path, files, run_cli):
    argv = compare_argv(files, tmp_path / "out", max_steps=None, budget="2ktok", curve_points="1")
    rc, _, err = run_cli(argv)
    assert rc == 0, err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["budget"] == {"kind": "tokens", "value": 2000.0}
    (run,) = results["runs"]
    per_step = run["train_tokens"] / run["steps"]  # batch x block: every step the same size
    assert abs(run["train_tokens"] - 2000) <= per_step / 2  # the step boundary nearest the budget
    assert len(run["curve"]) == 3  # step 0, one point at half the tokens, the final one


def test_a_comparison_whose_search_ran_outside_the_budget_is_not_resumed(tmp_path, files, run_cli):
    """Runs of an earlier roundtable trained on all of the budget; new runs train on what
    the search leaves: mixing them would compare unequal budgets."""
    argv = compare_argv(files, tmp_path / "out")
    rc, _, err = run_cli(argv)
    assert rc == 0, err
    path = tmp_path / "out" / "results.json"
    old = json.loads(path.read_text())
    del old["config_key"]["search_in_budget"]  # as roundtable wrote it before the search was in the budget
    path.write_text(json.dumps(old))
    rc, _, err = run_cli(argv + ["--resume"])
    assert rc == 2 and err.count("\n") == 1, err
    assert "started by an earlier roundtable, whose learning-rate search ran outside the budget" in err

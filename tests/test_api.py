"""api.py: ``roundtable.compare(**settings)`` and the typed results it returns.

The README's Python example runs as written, in a fresh folder; only the settings that
make it take seconds instead of minutes are added to its call (the tiny local model and
arm sizes, two steps, no learning-rate search): the rest is the real API end to end.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import roundtable
import roundtable.api
from roundtable.core.errors import UserError
from roundtable.results import CurvePoint, Results, Run, Verdict, load_results

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_python_example() -> str:
    section = README.read_text(encoding="utf-8").split("### Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory, tiny_pretrained, tiny_config):
    """The README example, executed in an empty folder; what it printed and its namespace."""
    import contextlib
    import io
    import os

    real = roundtable.api.compare
    tiny = {"model": str(tiny_pretrained), "config": tiny_config, "max_steps": 2, "lr_search": 0,
            "curve_eval_bytes": 1500, "device": "cpu"}
    cwd = tmp_path_factory.mktemp("readme")
    old = os.getcwd()
    printed = io.StringIO()
    namespace: dict = {}
    mp = pytest.MonkeyPatch()
    mp.setattr(roundtable, "compare", lambda **kw: real(**kw, **tiny))
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(printed):
            exec(compile(readme_python_example(), "README.md", "exec"), namespace)
    finally:
        os.chdir(old)
        mp.undo()
    return {"cwd": cwd, "stdout": printed.getvalue(), "ns": namespace}


def test_readme_example_runs_and_returns_typed_results(readme_run):
    results = readme_run["ns"]["results"]
    out = readme_run["cwd"] / "api-demo" / "out"
    assert isinstance(results, Results) and results.task == "lm" and results.complete
    assert [r.arm for r in results.runs] == ["finetune", "scratch-lstm"]
    for run in results.runs:
        assert isinstance(run, Run) and run.status == "ok" and run.steps == 2, run.error
        assert run.name == f"{run.arm}-seed0-frac1"
        assert all(isinstance(p, CurvePoint) for p in run.curve) and run.curve[0].step == 0
        assert run.bits_per_byte == run.final["valid_bits_per_byte"] == run.curve[-1].valid_bits_per_byte
    v = results.verdict
    assert isinstance(v, Verdict) and isinstance(v.ci95, tuple) and len(v.ci95) == 2
    best, second = sorted(results.runs, key=lambda r: r.bits_per_byte)
    assert v.margin == pytest.approx(second.bits_per_byte - best.bits_per_byte)
    # a winner is named only where the interval of the margin excludes zero
    assert v.separated == (v.ci95[0] > 0) and v.winner == (best.arm if v.separated else None)
    # the same folder as the command line writes; the raw mapping is the file as written
    assert results.raw == json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert (out / "report.html").is_file()
    assert load_results(out) == results
    printed = readme_run["stdout"]
    assert results.verdict.sentence in printed and "finetune-seed0-frac1 ok 2 steps" in printed
    assert roundtable.table(results) in printed


def test_keyword_arguments_are_the_flags_and_bad_ones_are_user_errors(lm_files, tmp_path):
    train, valid = lm_files
    with pytest.raises(UserError, match=r"unknown setting\(s\): max_step"):
        roundtable.compare(task="lm", data=train, max_step=3, out=tmp_path / "a")
    with pytest.raises(UserError, match="unknown arm 'gpt5'"):
        roundtable.compare(task="lm", data=train, arms=["scratch-lstm", "gpt5"], out=tmp_path / "b")
    with pytest.raises(UserError, match="no such file"):
        roundtable.compare(task="lm", data=tmp_path / "missing.txt", arms=["scratch-lstm"], out=tmp_path / "c")
    with pytest.raises(UserError, match="no results.json"):
        load_results(tmp_path)


def test_import_is_light_and_compare_is_the_api_function():
    code = "import sys, roundtable; print([m for m in ('torch', 'transformers') if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "[]", proc.stderr[-2000:]
    import roundtable.comparison.runner

    assert roundtable.compare is roundtable.api.compare and callable(roundtable.compare)


def test_version_flag_prints_the_package_version(run_cli):
    assert run_cli(["--version"]) == (0, f"roundtable {roundtable.__version__}\n", "")

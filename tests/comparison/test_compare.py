"""End to end: `roundtable compare` with all three kinds of arm on tiny settings, then `generate`.

The comparison runs once per module, as a subprocess of the installed console script
(what a user runs); the tests read what it left in its output folder.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from transformers import AutoTokenizer

from roundtable import TASK_END, TASK_START
from tests.helpers import TINY_ARMS, TINY_CONTEXT_BYTES, write_yaml

ARMS = ["finetune", "scratch-lstm", "scratch-transformer"]
MAX_STEPS = 4
CURVE_EVAL_BYTES = 1500


def script() -> str:
    s = Path(sys.executable).parent / "roundtable"
    return str(s) if s.is_file() else shutil.which("roundtable") or pytest.skip("no roundtable console script")


@pytest.fixture(scope="module")
def comparison(tmp_path_factory, lm_files, tiny_pretrained, tiny_config):
    train, valid = lm_files
    out = tmp_path_factory.mktemp("compare") / "out"
    argv = [
        "compare", "--task", "lm", "--data", str(train), "--valid", str(valid), "--arms", ",".join(ARMS),
        "--model", str(tiny_pretrained), "--max-steps", str(MAX_STEPS), "--curve-eval-bytes", str(CURVE_EVAL_BYTES),
        "--config", str(tiny_config), "--out", str(out), "--no-progress", "--device", "cpu", "--precision", "fp32",
    ]
    proc = subprocess.run([script(), *argv], capture_output=True, text=True, env=user_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {"out": out, "argv": argv, "proc": proc, "results": results, "train": train, "valid": valid}


def user_env() -> dict:
    """The user's environment, with what the numbers depend on fixed: one thread (the
    precision and device are flags). In-process model loads in other tests set
    HF_HUB_DISABLE_PROGRESS_BARS here; a user's shell has no such thing."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return env


@pytest.fixture(scope="module")
def bf16_comparison(comparison, tmp_path_factory) -> dict:
    """The same comparison under ``--precision bf16``."""
    argv = list(comparison["argv"])
    out = tmp_path_factory.mktemp("compare-bf16") / "out"
    argv[argv.index("--out") + 1], argv[argv.index("--precision") + 1] = str(out), "bf16"
    proc = subprocess.run([script(), *argv], capture_output=True, text=True, env=user_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs(comparison) -> dict:
    return {r["arm"]: r for r in comparison["results"]["runs"]}


def paragraph_bytes(path: Path) -> list[int]:
    return [len(p.encode()) for p in path.read_text(encoding="utf-8").strip().split("\n\n")]


def test_data_summary(comparison):
    r = comparison["results"]
    assert r["task"] == "lm"
    d = r["data"]
    # the files are 120 and 20 distinct paragraphs; bytes are their UTF-8 lengths
    assert (d["train_records"], d["valid_records"]) == (120, 20)
    assert d["train_bytes"] == sum(paragraph_bytes(comparison["train"]))
    assert d["valid_bytes"] == sum(paragraph_bytes(comparison["valid"]))
    assert d["overlap_removed"] == 0


def test_every_run_ok_with_contract_fields(comparison, runs):
    assert [r["arm"] for r in comparison["results"]["runs"]] == ARMS
    own = comparison["results"]["arm_own_settings"]  # the arm table's, so the report needs no registry
    assert set(own) == set(ARMS) and "lstm_hidden" in own["scratch-lstm"] and own["finetune"] == []
    for arm, r in runs.items():
        assert r["status"] == "ok", (arm, r.get("error"))
        assert (r["seed"], r["fraction"]) == (0, 1.0)
        for k in ("model", "params", "trainable_params", "train_seconds", "train_tokens", "train_bytes",
                  "train_flops", "curve", "final"):
            assert k in r, (arm, k)
        assert isinstance(r["params"], int) and r["trainable_params"] == r["params"] > 0  # full training
        assert r["steps"] == MAX_STEPS
        for k in ("valid_bits_per_byte", "valid_perplexity", "valid_token_accuracy"):
            assert math.isfinite(r["final"][k]), (arm, k)
        assert 0.0 <= r["final"]["valid_token_accuracy"] <= 1.0


def test_curves(runs):
    for arm, r in runs.items():
        curve = r["curve"]
        steps = [p["step"] for p in curve]
        assert steps[0] == 0 and curve[0]["seconds"] == 0.0, arm  # the first point is before training
        assert curve[0]["train_bytes"] == 0 and curve[0]["flops"] == 0.0
        assert all(a < b for a, b in zip(steps, steps[1:])), (arm, steps)  # strictly increasing: no duplicates
        assert steps[-1] == MAX_STEPS
        assert all(a["seconds"] <= b["seconds"] for a, b in zip(curve, curve[1:]))
        assert all(a["train_bytes"] <= b["train_bytes"] for a, b in zip(curve, curve[1:]))
        for p in curve:  # one scope per field: the subset score at every point, the whole text's where scored
            assert {"step", "seconds", "train_bytes", "flops", "valid_bits_per_byte", "subset_bits_per_byte"} <= set(p)
            assert math.isfinite(p["subset_bits_per_byte"]) and p["subset_bits_per_byte"] > 0
            whole = p["scope"] == "full"
            assert (p["valid_bits_per_byte"] is not None) == whole, (arm, p["step"], p["scope"])
        assert [p["scope"] for p in curve][::len(curve) - 1] == ["full", "full"]  # step 0 and final
        assert curve[-1]["valid_bits_per_byte"] == r["final"]["valid_bits_per_byte"]


def test_every_arm_is_scored_on_the_same_bytes(comparison, runs):
    valid_bytes = comparison["results"]["data"]["valid_bytes"]
    subset = set()
    for arm, r in runs.items():
        first, last = r["curve"][0], r["curve"][-1]
        assert first["eval_bytes"] == last["eval_bytes"] == valid_bytes, arm  # whole text at step 0 and final
        for p in r["curve"][1:-1]:  # intermediate points: the same leading documents for every arm
            subset.add(p["eval_bytes"])
    assert len(subset) == 1 and CURVE_EVAL_BYTES <= subset.pop() < valid_bytes


def test_every_arm_has_the_same_context_in_bytes(runs):
    """Blocks are counted in each arm's own tokens, so the subword arm (finetune, about
    1.5 bytes per token here) gets fewer tokens than the byte arms, for the same bytes."""
    bpt = {arm: r["train_bytes"] / r["train_tokens"] for arm, r in runs.items()}
    assert bpt["finetune"] > 1.2 * bpt["scratch-lstm"]
    assert runs["finetune"]["block_size"] < runs["scratch-lstm"]["block_size"]
    for arm, r in runs.items():
        assert r["context_bytes"] == round(r["block_size"] * bpt[arm]), arm
        assert abs(r["block_size"] * bpt[arm] - TINY_CONTEXT_BYTES) <= bpt[arm], arm  # within one token


def test_training_accounting(runs):
    # every step is batch_size blocks of block_size tokens, all real tokens
    for arm, r in runs.items():
        assert r["block_size"] == (32 if arm.startswith("scratch") else r["block_size"])  # byte arms: 32 bytes
        assert r["train_tokens"] == MAX_STEPS * TINY_ARMS[arm]["batch_size"] * r["block_size"], arm
        assert r["curve"][-1]["flops"] == r["train_flops"]
    # flops = tokens x (6 x matmul weights + 6 x n_layer x context x d_model), counted by hand:
    # LSTM 16/16/2 on 259 tokens: 2 x (64x16 + 64x16) + 259x16 = 8240 weights in matrix multiplies
    assert runs["scratch-lstm"]["train_flops"] == 512 * 6 * 8240
    assert runs["scratch-lstm"]["params"] == 259 * 16 + 2 * (2 * 64 * 16 + 2 * 64) + 16 * 259 + 259
    # transformer 1 x 16 (SwiGLU 48) on 259 tokens, tied head: 4x16x16 + 3x16x48 + 259x16 = 7472
    assert runs["scratch-transformer"]["train_flops"] == 512 * (6 * 7472 + 6 * 1 * 32 * 16)


def test_results_and_models_are_readable_like_other_files(comparison, runs):
    """Temporary files are created 0600; what the comparison leaves gets the umask's mode."""
    umask = os.umask(0)
    os.umask(umask)
    out = comparison["out"]
    files = [out / "results.json", *[out / r["run_dir"] / "model" / "model.safetensors" for r in runs.values()]]
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f


def test_readme_demo_figures_come_from_results(comparison):
    from bench.demo_figures import END, PAGE, START, figures

    page = PAGE.read_text(encoding="utf-8")
    assert page.count(START) == 1 and page.index(START) < page.index(END), PAGE
    text = figures(comparison["results"])
    assert f"(roundtable {comparison['results']['environment']['roundtable']})" in text
    for r in comparison["results"]["runs"]:
        first, last = r["curve"][0]["valid_bits_per_byte"], r["final"]["valid_bits_per_byte"]
        assert f"| {r['arm']} | {MAX_STEPS} |" in text and f"{first:.3f} -> {last:.3f}" in text
    assert comparison["results"]["verdict"]["sentence"] in text


def test_model_folders(comparison, runs):
    out = comparison["out"]
    for arm, r in runs.items():
        model_dir = out / r["run_dir"] / "model"
        for f in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"):
            assert (model_dir / f).is_file(), (arm, f)


def test_tensorboard_event_files(comparison, runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for arm, r in runs.items():
        run_name = Path(r["run_dir"]).name
        tb = comparison["out"] / "tensorboard" / run_name
        assert list(tb.glob("events.out.tfevents.*")), arm
        steps = set()
        for f in tb.glob("events.out.tfevents.*"):
            acc = EventAccumulator(str(f))
            acc.Reload()
            if "curve/subset_bits_per_byte" in acc.Tags()["scalars"]:
                steps |= {e.step for e in acc.Scalars("curve/subset_bits_per_byte")}
            if "train/bits_per_byte" in acc.Tags()["scalars"]:  # the training loss in the same unit for every arm
                train_bpb = [e.value for e in acc.Scalars("train/bits_per_byte")]
        assert steps == {p["step"] for p in r["curve"]}, arm
        assert train_bpb and all(0 < v < 12 for v in train_bpb), arm


def test_finetune_model_has_task_tokens_and_resized_embeddings(comparison, runs, tiny_pretrained):
    model_dir = comparison["out"] / runs["finetune"]["run_dir"] / "model"
    tok = AutoTokenizer.from_pretrained(model_dir)
    start, end = tok.convert_tokens_to_ids([TASK_START, TASK_END])
    assert (start, end) == (300, 301)  # appended after the tiny model's 300 tokens
    assert len(tok) == 303  # and <pad>
    config = json.loads((model_dir / "config.json").read_text())
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        rows = f.get_slice("model.embed_tokens.weight").get_shape()[0]
    assert rows == config["vocab_size"] == len(tok)
    assert config["pad_token_id"] == tok.pad_token_id


def test_saved_per_document_scores_match_the_final_score(comparison, runs):
    for arm, r in runs.items():
        z = np.load(comparison["out"] / r["run_dir"] / "valid_scores.npz")
        assert z["doc_bytes"].tolist() == paragraph_bytes(comparison["valid"])
        bpb = z["doc_nll_nats"].sum() / math.log(2) / z["doc_bytes"].sum()
        assert bpb == pytest.approx(r["final"]["valid_bits_per_byte"], rel=1e-9), arm


def test_verdict(comparison, runs):
    v = comparison["results"]["verdict"]
    finals = {a: r["final"]["valid_bits_per_byte"] for a, r in runs.items()}
    best, second = sorted(finals, key=finals.get)[:2]
    assert v["metric"] == "valid_bits_per_byte"
    assert v["margin"] == pytest.approx(finals[second] - finals[best])
    # the interval is of that margin: it holds the margin, and names a winner only where it excludes zero
    lo, hi = v["ci95"]
    assert lo <= v["margin"] <= hi
    assert v["separated"] == (lo > 0) and v["winner"] == (best if lo > 0 else None)
    assert best in v["sentence"]


def test_no_progress_means_no_progress_bars(comparison):
    err = comparison["proc"].stderr
    assert "it/s" not in err and "\r" not in err, err[:500]


@pytest.mark.parametrize("arm", ["scratch-lstm", "finetune"])
def test_generate(comparison, run_cli, arm):
    rc, out, err = run_cli(["generate", comparison["out"], "--arm", arm, "--prompt", "The", "--max-new-bytes", "20"])
    assert rc == 0, err
    assert out.startswith("The")
    assert len(out.rstrip("\n").encode()) <= len(b"The") + 20  # --max-new-bytes: the same unit for every arm
    assert TASK_START not in out and "<pad>" not in out


def test_generate_unknown_arm_is_a_user_error(comparison, run_cli):
    rc, out, err = run_cli(["generate", comparison["out"], "--arm", "scratch-same", "--prompt", "The"])
    assert rc == 2 and err.startswith("roundtable: error: no finished run of arm 'scratch-same'")


def test_resume_keeps_finished_runs(comparison, tmp_path, run_cli):
    out = tmp_path / "copy"
    shutil.copytree(comparison["out"], out)
    argv = list(comparison["argv"])
    argv[argv.index("--out") + 1] = str(out)
    rc, _, err = run_cli([*argv, "--resume"])
    assert rc == 0, err
    again = json.loads((out / "results.json").read_text())
    before = comparison["results"]["runs"]
    assert [r["curve"] for r in again["runs"]] == [r["curve"] for r in before]  # nothing was trained again
    assert [r["wall_seconds"] for r in again["runs"]] == [r["wall_seconds"] for r in before]


GOLDEN = Path(__file__).parents[1] / "data" / "golden-lm.json"
"""This module's comparison as the current code writes it, less what the machine decides
(times, paths). ``make golden`` rewrites it; a change of behaviour is its diff."""
SUMMARIZE_GOLDEN = Path(__file__).parents[1] / "data" / "golden-summarize.json"
"""A summarize comparison with LoRA, scratch-same and a forecast, likewise."""
_VOLATILE = re.compile(r"seconds|wall|per_second|_time|environment|kept_bytes|config_key|location|^path$|^valid$|"
                       r"^out$|^model$|run_dir|^tensorboard|^checkpoint_bytes$|^generation$|^spec$|^sha256$|"
                       r"^threads$|^cores$|^machine_busy$")
"""Keys whose values depend on the machine, the clock or the temporary folders, not on
the code: left out of the golden files and of the comparison."""


def golden_view(value, tmp: str):
    """``value`` as the golden files hold it: without its volatile keys, and with the
    tests' temporary folder ``tmp`` written ``<tmp>`` wherever a string names it (the
    verdict names the model folder it tested)."""
    if isinstance(value, dict):
        return {k: golden_view(v, tmp) for k, v in value.items() if not _VOLATILE.search(k)}
    if isinstance(value, list):
        return [golden_view(v, tmp) for v in value]
    return value.replace(tmp, "<tmp>") if isinstance(value, str) else value


def _same(old, new, where: str = "") -> list[str]:
    """Where ``new`` differs from ``old``, ignoring times, paths and what the machine
    decides. Floats agree to 1e-4 relative: enough for the few last bits that another
    CPU's fp32 kernels change (both runs pin fp32 and one thread), far too tight for a
    change of behaviour. Numbers inside sentences are compared as numbers, to the digits
    they are printed with."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{where}: was an object"]
        out = [f"{where}.{k}: missing" for k in old if k not in new]
        out += [f"{where}.{k}: added" for k in new if k not in old and not _VOLATILE.search(k)]
        return out + [d for k, v in old.items() if k in new for d in _same(v, new[k], f"{where}.{k}")]
    if isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            return [f"{where}: list of {len(old)} became {type(new).__name__} of {len(new) if new else 0}"]
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in _same(a, b, f"{where}[{i}]")]
    if isinstance(old, float) and isinstance(new, (int, float)) and not isinstance(new, bool):
        return [] if math.isclose(old, new, rel_tol=1e-4, abs_tol=1e-7) else [f"{where}: {old} became {new}"]
    if isinstance(old, str) and isinstance(new, str):
        numbers = re.compile(r"-?\d+\.\d+")
        same_text = numbers.sub("#", old) == numbers.sub("#", new)
        close = all(math.isclose(float(a), float(b), rel_tol=1e-2, abs_tol=2e-3)
                    for a, b in zip(numbers.findall(old), numbers.findall(new)))
        return [] if same_text and close else [f"{where}: {old!r} became {new!r}"]
    return [] if old == new else [f"{where}: {old!r} became {new!r}"]


def check_golden(path: Path, results: dict, request) -> None:
    """``results`` against the golden file at ``path``; with ``--update-golden`` (``make
    golden``) the file is first rewritten from ``results``, so the change is reviewed as
    its diff in the same commit as the code that made it."""
    new = golden_view(results, str(request.config._tmp_path_factory.getbasetemp()))
    if request.config.getoption("--update-golden"):
        path.write_text(json.dumps(new, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    diffs = _same(json.loads(path.read_text(encoding="utf-8")), new)
    assert not diffs, "\n".join([*diffs[:20], f"a change on purpose? `make golden` rewrites {path.name}"])


def test_results_match_the_golden_file(comparison, request):
    """The same comparison gives the same results.json as when the golden file was made,
    every field with the same value and no field added or lost."""
    check_golden(GOLDEN, comparison["results"], request)


def test_the_golden_comparison_check_catches_a_changed_score(comparison, tmp_path_factory):
    new = golden_view(comparison["results"], str(tmp_path_factory.getbasetemp()))
    new["runs"][1]["final"]["valid_bits_per_byte"] += 0.01
    del new["verdict"]["metric"]
    new["verdict"]["sentence"] = new["verdict"]["sentence"] + " Also this."
    new["runs"][0]["unexpected"] = 1
    diffs = _same(json.loads(GOLDEN.read_text(encoding="utf-8")), new)
    assert {d.split(":")[0] for d in diffs} == {
        ".runs[1].final.valid_bits_per_byte", ".verdict.metric", ".verdict.sentence", ".runs[0].unexpected"}
    assert not _same(json.loads(GOLDEN.read_text(encoding="utf-8")),
                     golden_view(comparison["results"], str(tmp_path_factory.getbasetemp())))


def test_the_golden_files_hold_no_machine_paths_or_times():
    for path in (GOLDEN, SUMMARIZE_GOLDEN):
        text = path.read_text(encoding="utf-8")
        assert "/tmp" not in text and "pytest-" not in text and '"train_seconds"' not in text, path.name


def test_bf16_scores_every_arm_on_the_same_bytes_close_to_fp32(comparison, bf16_comparison, runs):
    """The format ``auto`` picks on CPUs with AMX or AVX512-BF16 (and on GPUs), run here on
    any CPU (autocast works everywhere; only slower where bf16 is emulated)."""
    assert bf16_comparison["data"] == comparison["results"]["data"]
    for r in bf16_comparison["runs"]:
        fp32 = runs[r["arm"]]
        assert r["status"] == "ok" and r["precision"] == "bf16" and fp32["precision"] == "fp32"
        # the same scored bytes as fp32's, at every curve point and for the whole text
        assert [p.get("eval_bytes") for p in r["curve"]] == [p.get("eval_bytes") for p in fp32["curve"]]
        assert [p["step"] for p in r["curve"]] == [p["step"] for p in fp32["curve"]]
        bpb = [p["subset_bits_per_byte"] for p in r["curve"]] + [r["final"]["valid_bits_per_byte"]]
        assert all(math.isfinite(x) and 0 < x < 16 for x in bpb)
        # bf16 keeps 8 significant bits (relative rounding 2^-9 per operation, accumulated in
        # fp32): after 4 steps of a model this small the scores move by well under 1%
        assert r["final"]["valid_bits_per_byte"] == pytest.approx(fp32["final"]["valid_bits_per_byte"], rel=BF16_REL)
BF16_REL = 0.02


SUMMARIZE_ARMS = {**TINY_ARMS, "scratch-lstm": {"lstm_embed": 64, "lstm_hidden": 64, "batch_size": 8}}
"""The tests' tiny settings, with an LSTM wide enough to learn the summaries' fixed
opening in 150 steps: generation then writes words ROUGE can match (a 16-wide one writes
nothing, and a golden file of zeros would pass if generation returned empty strings)."""


@pytest.fixture(scope="module")
def summarize_comparison(tmp_path_factory, paragraphs, tiny_pretrained):
    folder = tmp_path_factory.mktemp("summarize")
    # every summary opens with the same three words, then the document's first four
    rows = [{"document": p, "summary": "the text says " + " ".join(p.split()[:4])} for p in paragraphs[:160]]
    data = folder / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = write_yaml(folder / "config.yaml", {"arm_settings": SUMMARIZE_ARMS, "context_bytes": TINY_CONTEXT_BYTES})
    out = folder / "out"
    argv = [
        "compare", "--task", "summarize", "--data", str(data), "--arms", "finetune-lora,scratch-same,scratch-lstm",
        "--model", str(tiny_pretrained), "--max-steps", "150", "--forecast-budget", "4x", "--lr-search", "0",
        "--curve-points", "1", "--max-document-tokens", "200", "--max-summary-tokens", "60", "--rouge-examples", "6",
        "--config", str(config), "--out", str(out), "--no-progress", "--device", "cpu", "--precision", "fp32",
    ]
    proc = subprocess.run([script(), *argv], capture_output=True, text=True, env=user_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_summarize_results_match_the_golden_file(summarize_comparison, request):
    """The same for summarize (ROUGE, the lead baseline), LoRA, scratch-same and the forecast."""
    assert summarize_comparison["forecast"] and summarize_comparison["baselines"]["lead"]
    # generation is scored for real: an arm writes words ROUGE matches (the LSTM, here)
    assert max(r["final"]["rouge1"] for r in summarize_comparison["runs"]) > 0.1
    check_golden(SUMMARIZE_GOLDEN, summarize_comparison, request)

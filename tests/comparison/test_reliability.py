"""Reliability: divergence marks one run and the rest go on; unsafe or unsupported
models are refused with one line; LoRA runs end to end; two processes match one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import TINY_ARMS, write_yaml


def _compare(lm_files, out, config, arms, *extra):
    train, valid = lm_files
    return ["compare", "--task", "lm", "--data", train, "--valid", valid, "--config", config, "--arms", arms,
            "--out", out, "--no-progress", *extra]


def test_a_diverging_run_is_marked_and_the_others_go_on(lm_files, tmp_path, run_cli):
    settings = {"arm_settings": {**TINY_ARMS, "scratch-transformer": {**TINY_ARMS["scratch-transformer"],
                                                                      "learning_rate": 1e38, "max_grad_norm": 0.0}}}
    config = write_yaml(tmp_path / "nan.yaml", settings)
    out = tmp_path / "out"
    rc, _, err = run_cli(_compare(lm_files, out, config, "scratch-transformer,scratch-lstm", "--max-steps", "6"))
    assert rc == 0, err
    runs = {r["arm"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    assert runs["scratch-transformer"]["status"] == "diverged"
    assert 1 <= runs["scratch-transformer"]["diverged_step"] <= 6
    assert runs["scratch-lstm"]["status"] == "ok"
    html = (out / "report.html").read_text()
    assert "diverged" in html


@pytest.fixture
def pickled_folder(tiny_pretrained, tmp_path):
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_pretrained, folder)
    (folder / "model.safetensors").unlink()
    import torch

    model = AutoModelForCausalLM.from_pretrained(tiny_pretrained)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def test_pickled_weights_are_refused(pickled_folder, lm_files, tiny_config, tmp_path, run_cli):
    for model in (pickled_folder, pickled_folder / "pytorch_model.bin"):
        rc, _, err = run_cli(_compare(lm_files, tmp_path / "o", tiny_config, "finetune", "--model", model,
                                      "--max-steps", "1"))
        assert rc == 2
        assert err.count("\n") == 1 and "pickled" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "results.json").exists()


def test_gguf_of_an_unsupported_architecture_is_refused(lm_files, tiny_config, tmp_path, run_cli):
    import gguf
    import numpy as np

    path = tmp_path / "odd.gguf"
    w = gguf.GGUFWriter(str(path), "no-such-arch")
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    rc, _, err = run_cli(_compare(lm_files, tmp_path / "o", tiny_config, "finetune", "--model", path,
                                  "--max-steps", "1"))
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("roundtable: error:") and "odd.gguf" in err


def test_lora_arm_end_to_end_with_generate(lm_files, tiny_pretrained, tiny_config, tmp_path, run_cli):
    out = tmp_path / "lora"
    rc, _, err = run_cli(_compare(lm_files, out, tiny_config, "finetune-lora", "--model", tiny_pretrained,
                                  "--max-steps", "3"))
    assert rc == 0, err
    (run,) = json.loads((out / "results.json").read_text())["runs"]
    assert run["status"] == "ok"
    assert 0 < run["trainable_params"] < run["params"] / 2
    assert (out / run["run_dir"] / "model" / "adapter_config.json").is_file()
    rc, text, err = run_cli(["generate", out, "--arm", "finetune-lora", "--prompt", "The", "--max-new-bytes", "5"])
    assert rc == 0, err
    assert text.startswith("The")


@pytest.mark.slow
def test_two_processes_match_one(lm_files, tiny_config, tmp_path):
    """torchrun --nproc_per_node=2 on CPU (gloo): the same runs, curve points and tokens,
    and bits per byte within 0.05 of the single-process run (same global batch; only the
    order in which the samplers visit the blocks differs)."""
    train, valid = lm_files
    args = ["compare", "--task", "lm", "--data", str(train), "--valid", str(valid), "--config", str(tiny_config),
            "--arms", "scratch-lstm,scratch-transformer", "--max-steps", "8", "--no-progress", "--precision", "fp32"]
    # one thread in every process, as torchrun gives each of its workers: the step-0 scores
    # then differ only by how the windows are shared out, not by a matmul split across threads
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "roundtable", *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "roundtable",
                          *args, "--out", str(tmp_path / "two")], capture_output=True, text=True, timeout=300, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    a = json.loads((tmp_path / "one" / "results.json").read_text())["runs"]
    b = json.loads((tmp_path / "two" / "results.json").read_text())["runs"]
    assert [(r["arm"], r["status"]) for r in a] == [(r["arm"], r["status"]) for r in b]
    for ra, rb in zip(a, b):
        assert [p["step"] for p in ra["curve"]] == [p["step"] for p in rb["curve"]]
        assert ra["train_tokens"] == rb["train_tokens"]  # the recipe's batch is the global batch
        assert ra["curve"][0]["valid_bits_per_byte"] == pytest.approx(rb["curve"][0]["valid_bits_per_byte"], abs=1e-6), ra["arm"]
        assert ra["final"]["valid_bits_per_byte"] == pytest.approx(rb["final"]["valid_bits_per_byte"], abs=0.05)

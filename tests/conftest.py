"""Shared fixtures: English text from the standard library, a tiny local "pretrained" model.

Nothing here downloads anything: the text is ``pydoc_data.topics`` (the Python
Language Reference that ships with CPython) and the pretrained model is a 2-layer,
32-wide Llama built with ``from_config`` and saved to a temporary folder, so the
finetune arm can be exercised exactly as with a real local model folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.helpers import (
    TINY_ARMS,
    TINY_CONTEXT_BYTES,
    english_paragraphs,
    results_files,
    schema_problem,
    write_paragraphs,
    write_yaml,
)

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the tiny models train as fast on one thread (see pytest_configure); a comparison's
# threads default to OMP_NUM_THREADS where it is set (core/threads.py)
os.environ.setdefault("OMP_NUM_THREADS", "1")
# the token cache of this test session only (subprocesses inherit it)
os.environ["ROUNDTABLE_CACHE"] = tempfile.mkdtemp(prefix="roundtable-cache-")


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/data/golden-*.json from this code's comparisons (make golden)")


def pytest_configure(config):
    # The models here are tiny: one intra-op thread is as fast, and it does not slow to a
    # crawl (OpenMP spin-waiting) when the machine's cores are busy with other work.
    import torch

    torch.set_num_threads(1)


_CHECKED: dict[Path, tuple[int, int]] = {}
"""results.json files already checked, with the (mtime, size) they had then."""


@pytest.fixture(autouse=True)
def every_results_json_follows_the_schema(request, tmp_path_factory):
    """After each test, every results.json written (or rewritten) under the session's
    temporary folder, by this process or a subprocess, must follow roundtable/results/
    schema.json; a test that writes another on purpose (an older file, a corrupted one)
    is marked ``off_schema``."""
    yield
    on_purpose = request.node.get_closest_marker("off_schema") is not None
    problems = []
    for path in results_files(tmp_path_factory.getbasetemp()):
        try:
            st = path.stat()
        except FileNotFoundError:  # removed since the walk listed it
            continue
        if _CHECKED.get(path) == (st.st_mtime_ns, st.st_size):
            continue
        _CHECKED[path] = (st.st_mtime_ns, st.st_size)
        problem = None if on_purpose else schema_problem(path)
        if problem:
            problems.append(problem)
    if problems:
        pytest.fail("results.json that does not follow the published schema:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def paragraphs() -> list[str]:
    paras = english_paragraphs()
    assert len(paras) >= 400, "pydoc_data.topics should give a few hundred paragraphs"
    return paras


@pytest.fixture(scope="session")
def english_txt(tmp_path_factory, paragraphs) -> Path:
    """An English text file of 300 paragraphs separated by blank lines."""
    return write_paragraphs(tmp_path_factory.mktemp("english") / "english.txt", paragraphs[:300])


@pytest.fixture(scope="session")
def lm_files(tmp_path_factory, paragraphs) -> tuple[Path, Path]:
    """Disjoint train.txt (120 paragraphs) and valid.txt (20 paragraphs)."""
    d = tmp_path_factory.mktemp("lm")
    return write_paragraphs(d / "train.txt", paragraphs[:120]), write_paragraphs(d / "valid.txt", paragraphs[300:320])


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> Path:
    """A --config file with tiny settings for every arm."""
    return write_yaml(tmp_path_factory.mktemp("config") / "tiny.yaml", {"arm_settings": TINY_ARMS, "context_bytes": TINY_CONTEXT_BYTES})


@pytest.fixture(scope="session")
def tiny_pretrained(tmp_path_factory, paragraphs) -> Path:
    """A local model folder: tiny LlamaForCausalLM (random weights) + byte-level BPE tokenizer.

    The tokenizer has 300 tokens (256 byte symbols, <|endoftext|>, 43 merges) and no
    task tokens or pad token: the package must add [TASK_START], [TASK_END] and <pad>.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-pretrained")
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tk.train_from_iterator(paragraphs[1000:1100], trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    assert len(tok) == 300

    torch.manual_seed(1234)  # not a seed any arm uses: scratch-same must differ from these weights
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture
def run_cli(capfd):
    """Run ``roundtable.cli.main`` in-process; returns (exit code, stdout, stderr)."""
    from roundtable.cli import main

    def run(argv: list[str]) -> tuple[int, str, str]:
        capfd.readouterr()
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:  # argparse errors exit from inside parse_args
            rc = e.code if isinstance(e.code, int) else 1
        out, err = capfd.readouterr()
        return rc, out, err

    return run

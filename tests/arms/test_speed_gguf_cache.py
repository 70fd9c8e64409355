"""Fixed costs paid once: a GGUF model is dequantized once per machine, then loaded as safetensors.

The GGUF file is written here with the ``gguf`` package: a 1-layer, 16-wide Llama with
a byte-level BPE vocabulary of 259 tokens (30 KB), loaded by transformers exactly as
the 98 MB offline default is.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import roundtable.arms.pretrained as pretrained
from roundtable.arms.pretrained import PretrainedCache, file_sha256, load_tokenizer, resolve

gguf = pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    hidden, ffn = 16, 32
    tokens = ["<|endoftext|>", *bytes_to_unicode().values(), "Ġt", "he"]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(64)
    w.add_embedding_length(hidden)
    w.add_block_count(1)
    w.add_feed_forward_length(ffn)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3] + [1] * (len(tokens) - 1))
    w.add_token_merges(["Ġ t", "h e"])
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    rng = np.random.default_rng(0)
    shapes = {"token_embd.weight": (len(tokens), hidden), "output_norm.weight": (hidden,),
              "blk.0.attn_norm.weight": (hidden,), "blk.0.ffn_norm.weight": (hidden,),
              "blk.0.attn_q.weight": (hidden, hidden), "blk.0.attn_k.weight": (hidden, hidden),
              "blk.0.attn_v.weight": (hidden, hidden), "blk.0.attn_output.weight": (hidden, hidden),
              "blk.0.ffn_gate.weight": (ffn, hidden), "blk.0.ffn_up.weight": (ffn, hidden),
              "blk.0.ffn_down.weight": (hidden, ffn)}
    for name, shape in shapes.items():
        w.add_tensor(name, (rng.standard_normal(shape) * 0.1).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ROUNDTABLE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def test_gguf_is_dequantized_once_then_loaded_from_safetensors(tiny_gguf, cache, monkeypatch):
    src = resolve(str(tiny_gguf))
    direct = pretrained._from_pretrained(src).state_dict()  # transformers' own GGUF load
    first = PretrainedCache(src).model().state_dict()
    folder = cache / hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    assert (folder / "tokenizer.json").is_file()
    assert not list(cache.glob("*.partial-*"))  # written under a temporary name, then renamed
    assert set(first) == set(direct) and all(torch.equal(first[k], direct[k]) for k in direct)

    load = pretrained._from_pretrained

    def safetensors_only(s):
        assert s.gguf_file is None and s.location == str(folder), "dequantized the GGUF file again"
        return load(s)

    monkeypatch.setattr(pretrained, "_from_pretrained", safetensors_only)
    cached = PretrainedCache(src)
    again = cached.model().state_dict()
    assert all(torch.equal(again[k], direct[k]) for k in direct)
    text = "the cat sat on the mat"
    assert load_tokenizer(cached.weights())(text)["input_ids"] == load_tokenizer(src)(text)["input_ids"]


def test_an_unfinished_conversion_is_replaced(tiny_gguf, cache):
    folder = cache / hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"cut short")  # a crash before config.json
    PretrainedCache(resolve(str(tiny_gguf))).model()
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").stat().st_size > 1000


def test_the_file_hash_is_remembered_by_path_size_and_modification_time(tmp_path, cache, monkeypatch):
    f = tmp_path / "weights.gguf"
    f.write_bytes(os.urandom(3 << 20))  # three read chunks
    expected = hashlib.sha256(f.read_bytes()).hexdigest()
    assert file_sha256(f) == expected

    def no_hashing():
        raise AssertionError("hashed again")

    monkeypatch.setattr(pretrained.hashlib, "sha256", no_hashing)
    assert file_sha256(f) == expected  # remembered: not read again
    os.utime(f, ns=(0, 10**9))  # the same path, changed: hashed again
    with pytest.raises(AssertionError, match="hashed again"):
        file_sha256(f)


def test_prepare_converts_a_gguf_file_before_any_comparison(tiny_gguf, cache, run_cli):
    """`roundtable prepare` (what make install runs for the default) pays the conversion now."""
    rc, out, err = run_cli(["prepare", "--model", str(tiny_gguf)])
    folder = cache / hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    assert rc == 0, err
    assert out.strip() == str(folder) and (folder / "config.json").is_file()
    rc, out, err = run_cli(["prepare", "--model", str(tiny_gguf.with_name("missing.gguf"))])
    assert rc == 2 and err.startswith("roundtable: error: ") and len(err.strip().splitlines()) == 1

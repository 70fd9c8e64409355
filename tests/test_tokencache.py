"""tokencache.py: blocks are the wrapped stream; a second run reads the cache."""

from __future__ import annotations

import pytest

import roundtable.tokencache as tc
from roundtable.tokenization import byte_tokenizer


def test_blocks_are_the_concatenated_wrapped_documents(tmp_path):
    texts = ["abc", "héllo", "x" * 50]
    blocks = tc.lm_blocks(byte_tokenizer(), texts, 8, root=tmp_path)
    stream = [i for t in texts for i in (256, *t.encode(), 257)]
    assert len(blocks) == len(stream) // 8
    assert blocks.input_ids.flatten().tolist() == stream[: len(blocks) * 8]
    assert blocks.text_bytes == sum(len(t.encode()) for t in texts)


def test_second_run_does_not_tokenize_again(tmp_path, monkeypatch):
    texts = [f"document {i} " * 20 for i in range(50)]
    first = tc.lm_blocks(byte_tokenizer(), texts, 16, root=tmp_path)

    def fail(*a, **k):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(tc, "_build", fail)
    second = tc.lm_blocks(byte_tokenizer(), texts, 16, root=tmp_path)
    assert second.input_ids.tolist() == first.input_ids.tolist()
    with pytest.raises(AssertionError, match="tokenized again"):  # other text, other block size: a new entry
        tc.lm_blocks(byte_tokenizer(), texts, 32, root=tmp_path)


def test_an_unfinished_entry_is_not_used(tmp_path):
    texts = ["some text " * 10]
    tok = byte_tokenizer()
    key = tc._key(tok, texts, 8)
    partial = tmp_path / f"lm-blocks-{key}"
    partial.mkdir()  # a crash left the folder without meta.json
    blocks = tc.lm_blocks(tok, texts, 8, root=tmp_path)
    assert len(blocks) == (len(texts[0]) + 2) // 8

"""tokencache.py: blocks are the wrapped stream; a second run reads the cache."""

from __future__ import annotations

import pytest
import torch

import roundtable.data.tokencache as tc
from roundtable.data.tokenization import byte_tokenizer


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


class CountingReads:
    """Stands in for the Arrow dataset and counts the reads made through it."""

    def __init__(self, ds):
        self.ds = ds
        self.reads = 0

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, key):
        self.reads += 1
        return self.ds[key]


def test_a_batch_is_served_in_one_read_and_passed_on_as_it_is(tmp_path):
    from torch.utils.data import DataLoader

    texts = [f"document {i} " * 12 for i in range(40)]
    blocks = tc.lm_blocks(byte_tokenizer(), texts, 16, root=tmp_path)
    rows = blocks.input_ids
    blocks.ds = CountingReads(blocks.ds)
    loader = DataLoader(blocks, batch_size=4, shuffle=False, collate_fn=blocks.collate)
    batches = list(loader)
    assert blocks.ds.reads == len(batches) == -(-len(blocks) // 4)  # one read per batch, not per row
    first = batches[0]
    assert torch.equal(first["input_ids"], rows[:4]) and torch.equal(first["labels"], rows[:4])
    assert first["input_ids"].dtype == torch.long and first["attention_mask"].shape == (4, 16)
    assert bool(first["attention_mask"].all())
    assert torch.equal(torch.cat([b["input_ids"] for b in batches]), rows)
    # rows fetched one by one (a loader that does not batch) are stacked into the same batch
    single = blocks.collate([blocks[i] for i in range(4)])
    assert all(torch.equal(single[k], first[k]) for k in first)

"""tasks.py: training blocks and evaluation sets; the scored text is exactly the document bytes."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from roundtable.data import Record
from roundtable.errors import DataError
from roundtable.tasks import LMTask, first_by_bytes, get_task
from roundtable.tokenization import add_task_tokens, byte_tokenizer, task_token_ids, train_bpe


@pytest.fixture(scope="module")
def records(paragraphs) -> list[Record]:
    docs = [p for p in paragraphs if p.isascii()][:10] + [p for p in paragraphs if not p.isascii()][:5]
    return [Record(text=t) for t in docs]


@pytest.fixture(scope="module")
def tokenizers(tiny_pretrained, paragraphs) -> dict:
    pretrained = AutoTokenizer.from_pretrained(tiny_pretrained)
    add_task_tokens(pretrained)
    return {"byte": byte_tokenizer(), "bpe": train_bpe(paragraphs[:200], 500), "pretrained": pretrained}


def test_byte_stream_is_task_start_bytes_task_end(records):
    tok = byte_tokenizer()
    es = LMTask().eval_set(tok, records)
    (seq,) = es.sequences
    expected = [i for r in records for i in (256, *r.text.encode(), 257)]
    assert seq.ids.tolist() == expected
    assert seq.scored.tolist() == [i < 256 for i in expected]
    assert es.doc_bytes.tolist() == [len(r.text.encode()) for r in records]
    assert es.pad_id == 258


def test_training_blocks(records):
    tok = byte_tokenizer()
    block = 64
    ds = LMTask().train_dataset(tok, records, block, arm="scratch-lstm")
    stream = [i for r in records for i in (256, *r.text.encode(), 257)]
    n = len(stream) // block  # the tail shorter than one block is dropped
    assert len(ds) == n
    assert ds.input_ids.flatten().tolist() == stream[: n * block]
    assert ds[3]["labels"].tolist() == ds[3]["input_ids"].tolist()  # the model shifts the labels itself
    assert ds[0]["attention_mask"].sum().item() == block and ds.n_tokens == n * block
    # tokens seen turn into bytes seen at the stream's rate of text bytes per token
    total = sum(len(r.text.encode()) for r in records)
    assert ds.text_bytes == total and ds.stream_tokens == len(stream)
    assert ds.bytes_per_token == total / len(stream)


def test_too_little_text_for_one_block_is_a_data_error():
    with pytest.raises(DataError, match="too small for one training block of arm scratch-lstm: 5 tokens < block size 8"):
        LMTask().train_dataset(byte_tokenizer(), [Record(text="abc")], 8, arm="scratch-lstm")


@pytest.mark.parametrize("name", ["byte", "bpe", "pretrained"])
def test_scored_tokens_are_exactly_each_documents_text(tokenizers, records, name):
    tok = tokenizers[name]
    es = LMTask().eval_set(tok, records)
    (seq,) = es.sequences
    start, end = task_token_ids(tok)
    # the denominator is the same for every tokenizer: the documents' UTF-8 bytes
    assert es.doc_bytes.tolist() == [len(r.text.encode()) for r in records]
    assert seq.ids[~seq.scored].tolist() == [start, end] * len(records)
    for i, r in enumerate(records):
        ids = seq.ids[seq.doc == i].tolist()
        assert seq.scored[seq.doc == i].all()
        assert tok.decode(ids, clean_up_tokenization_spaces=False) == r.text
    assert (seq.doc[~seq.scored] == -1).all()


def test_eval_bytes_identical_across_tokenizers(tokenizers, records):
    n = {name: LMTask().eval_set(tok, records).n_bytes for name, tok in tokenizers.items()}
    assert len(set(n.values())) == 1 and n["byte"] == sum(len(r.text.encode()) for r in records)


def test_first_by_bytes():
    recs = [Record(text="x" * n) for n in (10, 20, 30, 40)]
    assert first_by_bytes(recs, 0) == recs
    assert first_by_bytes(recs, 10) == recs[:1]
    assert first_by_bytes(recs, 11) == recs[:2]  # at least max_bytes: the document that crosses is kept
    assert first_by_bytes(recs, 60) == recs[:3]
    assert first_by_bytes(recs, 10_000) == recs


def test_get_task_lm():
    t = get_task("lm")
    assert isinstance(t, LMTask) and t.primary_metric == "valid_bits_per_byte"


def test_block_dataset_bytes_per_token(records):
    ds = LMTask().train_dataset(byte_tokenizer(), records, 32, arm="scratch-lstm")
    # byte tokens: one per text byte plus two task tokens per document
    n_bytes = sum(len(r.text.encode()) for r in records)
    assert ds.bytes_per_token == pytest.approx(n_bytes / (n_bytes + 2 * len(records)), rel=0.01)
    assert np.isclose(ds.bytes_per_token, ds.text_bytes / ds.stream_tokens)

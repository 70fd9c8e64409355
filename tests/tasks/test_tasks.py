"""tasks/: training blocks and evaluation sets (the scored text is exactly the document bytes),
and the registry that a third task joins without touching anything outside tasks/."""

from __future__ import annotations

import re

import numpy as np
import pytest
from transformers import AutoTokenizer

from roundtable.config.settings import DataConfig
from roundtable.core.errors import DataError
from roundtable.data.corpus import Record, first_by_bytes
from roundtable.data.tokenization import add_task_tokens, byte_tokenizer, task_token_ids, train_bpe
from roundtable.tasks import LMTask, Task, TrainingData, register_task, task_class, unregister_task
from tests.helpers import load_task_corpus


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


def test_task_class_lm():
    t = task_class("lm")
    assert t is LMTask and t.primary_metric == "valid_bits_per_byte" and t.lower_is_better


def test_block_dataset_bytes_per_token(records):
    ds = LMTask().train_dataset(byte_tokenizer(), records, 32, arm="scratch-lstm")
    # byte tokens: one per text byte plus two task tokens per document
    n_bytes = sum(len(r.text.encode()) for r in records)
    assert ds.bytes_per_token == pytest.approx(n_bytes / (n_bytes + 2 * len(records)), rel=0.01)
    assert np.isclose(ds.bytes_per_token, ds.text_bytes / ds.stream_tokens)


class TailTask(Task):
    """A third task, defined here only: given the first half of a document, predict the
    second half. Scored on the second half's bytes alone."""

    name = "tail"
    primary_metric = "valid_bits_per_byte"
    lower_is_better = True
    curve_key = "subset_bits_per_byte"
    doc_key = "doc_nll_nats"
    unit = "bits per byte of the second half"

    @staticmethod
    def _halves(records):
        out = []
        for r in records:
            words = r.text.split(" ")
            cut = len(words) // 2
            out.append((" ".join(words[:cut]) + " ", " ".join(words[cut:])))
        return out

    def _encode(self, tok, records):
        from roundtable.data.tokenization import encode_texts, task_token_ids

        start, end = task_token_ids(tok)
        halves = self._halves(records)
        heads = encode_texts(tok, [h for h, _ in halves])
        tails = encode_texts(tok, [t for _, t in halves])
        return halves, [([start, *h], t, end) for h, t in zip(heads, tails)]

    def train_data(self, tokenizer, records, arm, context_bytes):
        from roundtable.data.examples import BlockDataset

        halves, enc = self._encode(tokenizer, records)
        data = BlockDataset([np.asarray(p + t + [e]) for p, t, e in enc], [len(p) for p, _, _ in enc],
                            tokenizer.pad_token_id, sum(len((h + t).encode()) for h, t in halves))
        return TrainingData(data, data.max_length, context_bytes)

    def eval_set(self, tokenizer, records):
        from roundtable.evaluate.scorer import EvalSequence, EvalSet

        halves, enc = self._encode(tokenizer, records)
        seqs = []
        for i, (p, t, e) in enumerate(enc):
            scored = np.zeros(len(p) + len(t) + 1, bool)
            scored[len(p) : len(p) + len(t)] = True
            seqs.append(EvalSequence(np.asarray(p + t + [e]), scored, np.where(scored, i, -1).astype(np.int32)))
        return EvalSet(seqs, np.asarray([len(t.encode()) for _, t in halves]), tokenizer.pad_token_id)

    def eval_window(self, arm, full):
        longest = max(len(s.ids) for s in full.sequences)
        return longest, longest


@pytest.fixture
def tail_task():
    register_task(TailTask)
    yield TailTask
    unregister_task("tail")


def test_a_third_task_registered_outside_the_package_runs_a_comparison(tail_task, lm_files, tmp_path):
    """Adding a task touches tasks/ only: registered here, it loads data, trains both
    arms, is scored on what it declares, and gets a verdict in its own unit."""
    import roundtable
    from tests.helpers import TINY_ARMS

    train, valid = lm_files
    arms = ["scratch-lstm", "scratch-transformer"]
    results = roundtable.compare(
        task="tail", data=train, valid=valid, arms=arms, max_steps=3, lr_search=0, curve_points=0,
        arm_settings={a: TINY_ARMS[a] for a in arms}, out=tmp_path / "tail", log=None, no_progress=True,
    )
    assert results.task == "tail" and results.complete
    assert [r.status for r in results.runs] == ["ok", "ok"]
    valid_records = load_task_corpus(DataConfig(path=str(train), valid=str(valid))).valid
    tails = sum(len(t.encode()) for _, t in TailTask._halves(valid_records))
    assert results.raw["data"]["scored_valid_bytes"] == tails  # the second halves' bytes, not the documents'
    assert results.verdict.metric == "valid_bits_per_byte"
    assert "bits per byte of the second half" in results.verdict.sentence or "cannot separate" in results.verdict.sentence
    assert (tmp_path / "tail" / "report.html").is_file()


def test_an_unknown_task_names_the_registered_ones(tail_task):
    from roundtable.core.errors import UserError

    with pytest.raises(UserError, match="choose from lm, summarize, tail"):
        task_class("translate")


def test_no_module_outside_tasks_asks_which_task_it_is():
    """Task-specific behaviour lives in tasks/: elsewhere, code reads what the task
    declares and never compares its name (a third task would have to edit those lines)."""
    from pathlib import Path

    import roundtable

    package = Path(roundtable.__file__).parent
    name_test = re.compile(r"""(\btask(\.name)?|\[["']task["']\]|\.get\(["']task["']\))\s*[=!]=\s*["']"""
                           r"""|["'](lm|summarize)["']\s*[=!]=""")
    found = [f"{p.relative_to(package)}:{i}" for p in package.rglob("*.py") if "tasks" not in p.parts
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if name_test.search(line)]
    assert not found, found

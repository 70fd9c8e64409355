"""Summarization: label masks, truncation on bytes, [TASK_END] stops generation, ROUGE."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import roundtable.evaluate.generate as gen
from roundtable import TASK_END
from roundtable.arms.lstm import build_lstm
from roundtable.config.settings import DataConfig
from roundtable.core.errors import DataError
from roundtable.data.corpus import Record, cut_bytes
from roundtable.data.tokenization import byte_tokenizer, task_token_ids, train_bpe
from roundtable.tasks import SummarizeTask
from tests.helpers import load_task_corpus

TASK = SummarizeTask(max_document_tokens=768, max_summary_tokens=128, rouge_examples=24, num_beams=1)
RECORDS = [
    Record(text="The quick brown fox jumps over the lazy dog. " * 3, summary="A fox jumps."),
    Record(text="Tokenizers split text into pieces called tokens.", summary="Tokenizers make tokens."),
]


def test_loss_covers_only_summary_and_task_end():
    tok = byte_tokenizer()
    start, end = task_token_ids(tok)
    ds = TASK.train_dataset(tok, RECORDS, "scratch-lstm")
    batch = ds.collate([ds[i] for i in range(len(RECORDS))])
    for i, r in enumerate(RECORDS):
        ids, labels, mask = batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i]
        n_doc = len(r.text.encode())
        n_sum = len(r.summary.encode())
        assert ids[n_doc].item() == start
        assert (labels[: n_doc + 1] == -100).all()  # document and [TASK_START]: no loss
        assert bytes(labels[n_doc + 1 : n_doc + 1 + n_sum].tolist()) == r.summary.encode()
        assert labels[n_doc + 1 + n_sum].item() == end
        assert (labels[mask == 0] == -100).all()  # padding: no loss
        assert int(mask.sum()) == n_doc + n_sum + 2


def test_one_outlier_document_does_not_pad_every_batch():
    """Examples are padded per batch, batches grouped by length: one long document costs
    its own batch, not padding in every step (padding to the longest example in the data
    would make 95% of positions padding here)."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    records = [Record(text="word " * (4 + i % 40), summary=f"Doc {i}.") for i in range(1000)]
    records.insert(57, Record(text="an outlier that tokenizes badly " * 20, summary="Outlier."))
    tok = byte_tokenizer()
    ds = TASK.train_dataset(tok, records, "scratch-lstm")
    assert ds.max_length > 20 * min(len(x) for x in ds.sequences)
    order = list(LengthGroupedSampler(8, dataset=ds, generator=torch.Generator().manual_seed(0)))
    padded = total = 0
    for b in range(0, len(order), 8):
        mask = ds.collate([ds[i] for i in order[b : b + 8]])["attention_mask"]
        padded += int((mask == 0).sum())
        total += mask.numel()
    # the outlier's own batch is the only real cost: 7 short rows padded to its length
    assert padded / total < 0.05
    assert 1 - ds.n_tokens / (len(ds) * ds.max_length) > 0.7  # what padding to the longest would cost
    assert total - padded == ds.n_tokens  # every real token trained once per epoch


def test_truncation_is_on_bytes_and_the_same_for_every_arm():
    long = Record(text="word " * 400, summary="short summary " * 20)
    byte_tok = byte_tokenizer()
    bpe_tok = train_bpe(["word " * 50, "short summary"], 300)
    task = SummarizeTask(max_document_tokens=100, max_summary_tokens=30, rouge_examples=24, num_beams=1)
    a = task.eval_set(byte_tok, [long])
    b = task.eval_set(bpe_tok, [long])
    assert a.doc_bytes.tolist() == b.doc_bytes.tolist()
    assert a.doc_bytes[0] <= 30
    # the byte arm scores exactly the summary bytes it was given
    assert int(a.sequences[0].scored.sum()) == a.doc_bytes[0]


@pytest.mark.parametrize("text,limit", [("héllo wörld " * 10, 17), ("abc", 10), ("日本語のテキスト", 7)])
def test_cut_bytes_stays_within_limit_on_a_character_boundary(text, limit):
    cut = cut_bytes(text, limit)
    assert len(cut.encode()) <= limit
    assert text.startswith(cut)


def _constant_lstm(tok, favourite: int):
    model = build_lstm(len(tok), 8, 8, 1, 0.0, seed=0)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(-10.0)
        model.head.bias[favourite] = 10.0
    return model.eval()


def test_task_end_stops_generation():
    tok = byte_tokenizer()
    start, end = task_token_ids(tok)
    prompt = [*b"some document", start]
    assert gen.complete(_constant_lstm(tok, end), tok, prompt, 20, greedy=True) == []
    assert gen.complete(_constant_lstm(tok, ord("a")), tok, prompt, 20, greedy=True) == [ord("a")] * 20


def test_rouge_of_a_prediction_equal_to_the_reference_is_one(monkeypatch):
    tok = byte_tokenizer()
    rouge = TASK.rouge_evaluator(tok, RECORDS, max_new_tokens=50, progress=False)
    refs = iter(r.summary for r in RECORDS)
    end = task_token_ids(tok)[1]
    monkeypatch.setattr(gen, "complete_many",
                        lambda model, tok, prompts, *a, **k: [list(next(refs).encode()) + [end] for _ in prompts])
    out = rouge(_constant_lstm(tok, 0), full=True)
    assert out["rouge1"] == out["rouge2"] == out["rougeL"] == 1.0
    assert [row["prediction"] for row in rouge.last] == [r.summary for r in RECORDS]
    assert np.all(rouge.last_rougeL == 1.0)


def test_summary_text_never_contains_task_end_from_the_model():
    tok = byte_tokenizer()
    assert TASK_END not in tok.decode([*b"abc", task_token_ids(tok)[1]], skip_special_tokens=True)


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_bad_records_are_reported_with_file_and_line(tmp_path):
    p = tmp_path / "pairs.jsonl"
    rows = [{"document": f"document number {i}", "summary": f"summary {i}"} for i in range(6)]
    _write_jsonl(p, rows[:3] + [{"document": "x", "summary": "  "}] + rows[3:])
    with pytest.raises(DataError, match=rf"{p}:4: field 'summary' is empty"):
        load_task_corpus(DataConfig(path=str(p)), "summarize")
    corpus = load_task_corpus(DataConfig(path=str(p), skip_bad_records=True), "summarize")
    assert corpus.skipped_records == 1
    assert len(corpus.train) + len(corpus.valid) == 6


def test_missing_summary_field_is_reported(tmp_path):
    p = tmp_path / "pairs.jsonl"
    _write_jsonl(p, [{"document": "d", "summary": "s"}, {"document": "only a document"}])
    with pytest.raises(DataError, match=rf"{p}:2: missing field 'summary'"):
        load_task_corpus(DataConfig(path=str(p)), "summarize")


def test_batched_generation_gives_the_same_tokens_as_one_at_a_time(tiny_pretrained):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from roundtable.data.tokenization import add_task_tokens, encode_texts

    tok = AutoTokenizer.from_pretrained(tiny_pretrained)
    add_task_tokens(tok)
    model = AutoModelForCausalLM.from_pretrained(tiny_pretrained)
    model.resize_token_embeddings(len(tok))
    model.eval()
    start, end = task_token_ids(tok)
    with torch.no_grad():  # make [TASK_END] likely after a while, so some rows stop early
        model.get_output_embeddings().weight[end] *= 3
    docs = ["a short one", "a much longer document than the others, with more words in it", "mid length text"] * 3
    prompts = [ids + [start] for ids in encode_texts(tok, docs)]
    one = [gen.complete(model, tok, p, 12, greedy=True) for p in prompts]
    assert gen.complete_many(model, tok, prompts, 12, batch_size=4) == one
    lstm = _constant_lstm(byte_tokenizer(), ord("z"))  # the LSTM is batched too (left padding packed inside it)
    assert gen.complete_many(lstm, byte_tokenizer(), [[1, 2], [3]], 3) == [[ord("z")] * 3] * 2

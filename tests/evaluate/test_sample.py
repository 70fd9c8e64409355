"""sample.py and the tasks' eval_sample: the validation text every arm is scored on,
cut to the budget the same for all arms."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import roundtable
from roundtable.config.settings import CompareConfig, DataConfig
from roundtable.data.corpus import Record
from roundtable.data.tokenization import byte_tokenizer, task_token_ids
from roundtable.evaluate import sample
from roundtable.evaluate.scorer import ArmEvaluator, EvalSequence, EvalSet
from roundtable.tasks.base import MIN_SAMPLE_RECORDS
from roundtable.tasks.lm import MIN_PIECE_BYTES, MIN_SAMPLE_BYTES, LMTask, Piece
from roundtable.tasks.summarize import SummarizeTask
from tests.helpers import schema_problem

LN2 = float(np.log(2.0))


def test_lm_pieces_hold_every_byte_once_each_after_the_text_before_it():
    task = LMTask(context_bytes=64)  # pieces of MIN_PIECE_BYTES: 4 x 64 is less
    docs = [Record("ab " * 1000, source="v:1"), Record("short one", source="v:2"), Record("é" * 1500, source="v:3")]
    units = task.pieces(docs)
    for i, d in enumerate(docs):
        mine = [u for u in units if u.document == i]
        assert "".join(u.text for u in mine) == d.text  # every byte in exactly one unit
        assert all(len(u.text.encode()) <= MIN_PIECE_BYTES for u in mine)
        done = ""
        for u in mine:  # each read after the (at most 64) bytes just before it in its document
            assert u.context == ("" if not done else done.encode()[-64:].decode("utf-8", errors="ignore"))
            assert done.endswith(u.context) and len(u.context.encode()) <= 64
            done += u.text
    assert [len([u for u in units if u.document == i]) for i in range(3)] == [3, 1, 3]
    assert all(u.text.startswith(" ") for u in units[1:3])  # cut before a space: a word stays whole


def test_a_piece_is_read_after_its_context_and_only_its_own_bytes_are_scored():
    tok = byte_tokenizer()
    start, end = task_token_ids(tok)
    seq = LMTask(context_bytes=4).eval_set(tok, [Piece("fghij", context="bcde", document=0), Record("xy")])
    ids, scored = seq.sequences[0].ids.tolist(), seq.sequences[0].scored.tolist()
    # the piece does not begin a document: no [TASK_START] before its context
    assert ids == [*b"bcde", *b"fghij", end, start, *b"xy", end]
    assert scored == [False] * 4 + [True] * 5 + [False, False, True, True, False]
    assert seq.doc_bytes.tolist() == [5, 2]


def test_lm_sample_is_a_seeded_random_draw_that_fits_the_cut_with_its_contexts():
    task = LMTask(context_bytes=64)
    docs = [Record(f"document {i} " + "words and more words " * (20 + 7 * i)) for i in range(40)]
    units = task.pieces(docs)
    first = task.eval_sample(docs, 6000, seed=0)
    assert first == task.eval_sample(docs, 6000, seed=0)  # the same draw on every process, shard, resume
    assert first != task.eval_sample(docs, 6000, seed=1)
    run = sum(len(u.text.encode()) + len(u.context.encode()) for u in first)  # what scoring runs
    assert 6000 - 64 - MIN_PIECE_BYTES < run <= 6000
    order = [units.index(u) for u in first]
    assert order != sorted(order) and order[0] != 0  # drawn, not the leading units
    assert task.sample_counts(first) == (len(first), len({u.document for u in first}))
    assert task.eval_sample(docs, 10**6) == docs  # all of it fits: nothing is drawn
    assert sum(len(u.text.encode()) + len(u.context.encode()) for u in task.eval_sample(docs, 10)) <= MIN_SAMPLE_BYTES


def test_summarize_draws_pairs_at_random_by_summary_bytes():
    task = SummarizeTask(max_document_tokens=768, max_summary_tokens=128, rouge_examples=4, num_beams=1)
    pairs = [Record(f"document {i}", "s" * 40) for i in range(50)]
    drawn = task.eval_sample(pairs, 40 * 35, seed=3)
    assert len(drawn) == 35 and len(set(drawn)) == 35 and drawn != pairs[:35]
    assert drawn == task.eval_sample(pairs, 40 * 35, seed=3)
    assert len(task.eval_sample(pairs, 80)) == MIN_SAMPLE_RECORDS  # never fewer
    assert task.eval_sample(pairs, 10**6) == pairs


class Bigram(torch.nn.Module):
    """A fixed byte-bigram scorer: log P(next | this byte) from the counts of a training
    text with add-``alpha`` smoothing. Deterministic, fast, and far worse on random bytes
    than on repetitive text, so a sample biased towards either moves its score."""

    def __init__(self, text: str, alpha: float, vocab: int):
        super().__init__()
        counts = torch.full((vocab, vocab), alpha)
        b = torch.tensor(list(text.encode()))
        counts.index_put_((b[:-1], b[1:]), torch.ones(len(b) - 1), accumulate=True)
        self.table = (counts / counts.sum(1, keepdim=True)).log()

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.table[input_ids])


def _hard_start_documents(rng: np.random.Generator, n: int) -> list[Record]:
    """Each document: 300 random letters and digits, then 1-5 kB of a few words in random order."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    words = np.array("the cat sat on a mat and then it ran off".split())
    docs = []
    for _ in range(n):
        head = "".join(rng.choice(letters, 300))
        body = " ".join(rng.choice(words, int(rng.integers(200, 1000))))
        docs.append(Record(head + " " + body))
    return docs


def test_the_sample_estimates_each_arm_and_the_margin_of_the_whole_text():
    """Documents whose first 300 bytes are much harder than the rest: the random sample's
    estimate of each arm and of the margin lies inside its own 95% interval of the
    whole-text value; the old sample, each document's leading part, does not."""
    from roundtable.data.corpus import cut_bytes
    from roundtable.decide.stats import score_samples
    from roundtable.evaluate.scorer import score

    rng = np.random.default_rng(0)
    valid, train = _hard_start_documents(rng, 40), _hard_start_documents(rng, 20)
    tok = byte_tokenizer()
    text = " ".join(r.text for r in train)
    arms = {"sharp": Bigram(text, 0.01, len(tok)), "smooth": Bigram(text, 2.0, len(tok))}
    task = LMTask(context_bytes=64)

    def per_doc(records):
        es = task.eval_set(tok, records)
        return [score(m, es, 64, 48, 4096, "cpu", progress=False).doc_nll_nats for m in arms.values()], es.doc_bytes

    whole_nll, whole_bytes = per_doc(valid)
    truth = [n.sum() / LN2 / whole_bytes.sum() for n in whole_nll]
    truth.append(truth[0] - truth[1])
    total = int(whole_bytes.sum())
    assert 100_000 < total < 200_000 and abs(truth[2]) > 0.05

    def estimate(records):
        nll, nbytes = per_doc(records)
        boot = score_samples(nll, nbytes, n_boot=2000, seed=0)
        boot = np.column_stack([boot, boot[:, 0] - boot[:, 1]])
        point = [n.sum() / LN2 / nbytes.sum() for n in nll]
        return [*point, point[0] - point[1]], np.percentile(boot, [2.5, 97.5], axis=0)

    for seed in range(5):
        sample = task.eval_sample(valid, total // 4, seed)
        point, (lo, hi) = estimate(sample)
        assert len(sample) >= 20 and all(lo < truth) and all(truth < hi), (seed, point, truth, lo, hi)
    # the leading part of every document, at one length holding the same bytes: the hard
    # openings double both arms' scores and turn the margin's sign, all far out of its interval
    point, (lo, hi) = estimate([Record(cut_bytes(r.text, total // 4 // len(valid))) for r in valid])
    assert all(np.array(truth) < lo) and point[2] > 0 > truth[2], (point, truth, lo, hi)


def test_the_cut_fits_the_slowest_arm_in_its_share_of_the_budget():
    s = sample.size(0.2, 100.0, 100_000, {"lstm": 1e-5, "finetune": 1e-3})
    assert s.slowest == "finetune" and s.limit_seconds == pytest.approx(20.0)
    assert s.max_bytes == 20_000  # 20 s at 1 ms a byte
    assert sample.size(0.2, 100.0, 100_000, {"finetune": 0.1}).max_bytes == 200  # the task keeps its minimum
    assert sample.size(0.2, 100.0, 10_000, {"finetune": 1e-3}).max_bytes is None  # 10 s: all of it fits
    floor = sample.size(0.2, 100.0, 100_000, {"finetune": 1e-3}, sample_bytes=lambda cut: 100_000)
    assert floor.max_bytes is None and floor.scored_bytes == 100_000  # the task's smallest sample is all of it
    assert sample.size(0.0, 100.0, 100_000, {"finetune": 1e-3}).max_bytes is None  # --eval-share 0
    assert sample.size(0.2, None, 100_000, {}).max_bytes is None  # a token or FLOP budget


def test_the_measured_speed_is_kept_per_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUNDTABLE_CACHE", str(tmp_path))
    import torch

    class Uniform(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None):
            return type("Out", (), {"logits": torch.zeros(*input_ids.shape, 256)})()

    ids = np.arange(64, dtype=np.int64) % 256
    es = EvalSet([EvalSequence(ids, np.ones(64, bool), np.zeros(64, np.int32))], np.array([64]), 0)
    ev = ArmEvaluator(full=es, subset=None, window=16, stride=8)
    first = sample.seconds_per_position(Uniform(), ev, "fp32", "cpu")
    assert first > 0 and len(list((tmp_path / "speeds").glob("*.json"))) == 1

    def no_scoring(*a, **k):
        raise AssertionError("scored again")

    monkeypatch.setattr(sample, "score", no_scoring)
    assert sample.seconds_per_position(Uniform(), ev, "fp32", "cpu") == first


def test_every_arm_is_scored_on_the_same_cut_sample(tmp_path, lm_files, paragraphs, tiny_config, monkeypatch):
    # the speed is what the machine says; fixed here so the cut is known: 2 ms a byte and
    # 20 s x 0.25 = 5 s allowed fit 2,500 bytes, raised to the LM sample's 4,096-byte floor
    monkeypatch.setattr(importlib.import_module("roundtable.comparison.prepare"), "arm_cost", lambda model, ev, p, d: 2e-3)
    train, valid = lm_files
    out = tmp_path / "out"
    res = roundtable.compare(task="lm", data=train, valid=valid, config=tiny_config, budget="20s", max_steps=2,
                             eval_share=0.25, lr_search=0, curve_points=0, device="cpu",
                             arms=["scratch-lstm", "scratch-transformer"], out=out, no_progress=True, log=None)
    s = res.eval_sample
    assert s.max_bytes == 2500 and s.valid_bytes > MIN_SAMPLE_BYTES and s.scored_bytes <= MIN_SAMPLE_BYTES
    scores = [np.load(out / r.run_dir / "valid_scores.npz") for r in res.runs]
    finals = [int(x["doc_bytes"].sum()) for x in scores]
    assert finals[0] == finals[1] and 3000 < finals[0] <= MIN_SAMPLE_BYTES  # the same bytes for every arm
    assert res.data["scored_valid_bytes"] == finals[0] == s.scored_bytes
    # 20 paragraphs of a few hundred bytes, shorter than a piece: whole ones, drawn at random
    assert len(scores[0]["doc_bytes"]) == len(scores[1]["doc_bytes"]) == s.units == s.documents < 20
    assert s.seed == 0 and "uniformly at random" in s.method
    leading = [len(t.encode()) for t in paragraphs[300:320]][: s.units]  # lm_files' valid.txt
    assert scores[0]["doc_bytes"].tolist() != leading  # drawn, not the leading paragraphs
    assert any("--eval-share" in w and "estimates of their whole-text values" in w for w in res.verdict.warnings)
    assert schema_problem(out / "results.json") is None
    assert "--eval-share allows 25%" in (out / "report.md").read_text(encoding="utf-8")


def test_eval_share_is_a_setting():
    cfg = CompareConfig(task="lm", data=DataConfig(path="x"))
    assert cfg.budget.eval_share == 0.1
    with pytest.raises(roundtable.core.errors.UserError, match="--eval-share"):
        roundtable.config.settings.BudgetConfig(eval_share=-1)


def test_pieces_of_one_document_are_summed_into_it_for_the_bootstrap(tmp_path):
    # one long document in 3 pieces, a short one whole, a long one of 2-byte characters in 3:
    # the saved file keeps the pieces with their document, and the verdict's (and the
    # forecast's) per-document reader sums them, step-0 scores the same way
    from roundtable.comparison.runner import Comparison
    from roundtable.decide.verdict import NLL, START, per_doc

    task = LMTask(context_bytes=64)
    docs = [Record("ab " * 1000), Record("short one"), Record("é" * 1500)]
    es = task.eval_set(byte_tokenizer(), task.pieces(docs))
    assert es.doc_group.tolist() == [0, 0, 0, 1, 2, 2, 2]
    assert es.doc_bytes.tolist() == [1022, 1023, 955, 9, 1024, 1024, 952]
    nll = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    prep = SimpleNamespace(evaluator=SimpleNamespace(last_full=SimpleNamespace(doc_nll_nats=nll), full=es, extra=None))
    Comparison._save_scores(SimpleNamespace(task=task), tmp_path, prep, start=10 * nll)
    saved = np.load(tmp_path / "valid_scores.npz")
    assert saved["doc_nll_nats"].tolist() == nll.tolist() and saved["doc_group"].tolist() == es.doc_group.tolist()
    run = {"run_dir": "."}
    values, doc_bytes = per_doc(run, tmp_path, NLL)
    assert values.tolist() == [6.0, 4.0, 18.0] and doc_bytes.tolist() == [3000, 9, 3000]
    assert per_doc(run, tmp_path, START)[0].tolist() == [60.0, 40.0, 180.0]
    # the whole text unsampled: every document its own unit
    assert task.eval_set(byte_tokenizer(), docs).doc_group.tolist() == [0, 1, 2]

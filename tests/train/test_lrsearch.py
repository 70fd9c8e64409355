"""lrsearch.py: the same learning-rate search for every arm."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from roundtable.arms import arm_defaults
from roundtable.config.settings import BudgetConfig, SearchConfig
from roundtable.core.errors import Diverged
from roundtable.data.corpus import Record
from roundtable.train.lrsearch import SliceTooShort, grid, most_steps, search_rate, tuning_split

ARM = arm_defaults("scratch-lstm")  # recipe rate 0.01


def test_grid_starts_at_the_recipe_and_steps_half_decades():
    rates = grid(0.01, 5)
    assert rates[0] == 0.01
    assert [math.log10(r / 0.01) for r in rates] == pytest.approx([0, -0.5, 0.5, -1, 1])


def test_slice_budget_is_a_share_of_seconds_or_steps():
    assert BudgetConfig(seconds=120).scaled(0.1).seconds == pytest.approx(12)
    assert BudgetConfig(seconds=None, max_steps=200).scaled(0.1).max_steps == 20
    assert BudgetConfig(seconds=None, max_steps=4).scaled(0.1).max_steps == 1
    assert BudgetConfig(seconds=120, curve_points=3).scaled(0.5).curve_points == 0


def fake(scores: dict, steps: int = 40, diverge=()):
    seen = []

    def train_slice(arm, budget, run_dir):
        seen.append(arm.learning_rate)
        if any(math.isclose(arm.learning_rate, d) for d in diverge):
            raise Diverged(3, float("nan"))
        return steps, scores[min(scores, key=lambda r: abs(math.log(r / arm.learning_rate)))]

    return train_slice, seen


def test_best_rate_wins_and_near_ties_go_where_a_whole_run_would(tmp_path):
    budget = BudgetConfig(seconds=None, max_steps=400)
    decaying = replace(ARM, schedule="linear")
    for arm in (ARM, decaying):
        train_slice, _ = fake({0.01: 2.00, 0.00316: 1.90, 0.0316: 2.50})
        r = search_rate(arm, budget, SearchConfig(rates=3), train_slice, tmp_path)
        assert r.chosen_rate == pytest.approx(0.00316, rel=1e-2) and not r.kept_recipe
    # 0.01 within 2% of the best (1.97 <= 1.95 x 1.02): with a decaying schedule short slices
    # favour small rates, so the larger wins
    train_slice, _ = fake({0.01: 1.97, 0.00316: 1.95, 0.0316: 2.50})
    r = search_rate(decaying, budget, SearchConfig(rates=3), train_slice, tmp_path)
    assert r.chosen_rate == 0.01 and r.kept_recipe and "largest" in r.reason
    assert len(r.candidates) == 3 and r.seconds >= 0
    # at a constant rate, slices that tie have not told rates apart: the recipe's (0.01) is kept
    # if it is tied, either side of the best; the best score wins otherwise (the demo's LSTM:
    # 4.006 / 4.012 and 4.086 / 4.041 at 0.01 / 0.0316 in two searches; 2.13 against 2.72 after 84 s)
    for scores, chosen, why in [({0.01: 4.006, 0.00316: 4.487, 0.0316: 4.012}, 0.01, "the recipe's"),
                                ({0.01: 4.086, 0.00316: 4.505, 0.0316: 4.041}, 0.01, "the recipe's"),
                                ({0.01: 4.080, 0.00316: 3.990, 0.0316: 4.500}, 0.00316, "the best"),
                                ({0.01: 4.500, 0.00316: 4.012, 0.0316: 4.000}, 0.0316, "the best")]:
        train_slice, _ = fake(scores)
        r = search_rate(ARM, budget, SearchConfig(rates=3), train_slice, tmp_path)
        assert ARM.schedule == "constant" and r.chosen_rate == pytest.approx(chosen, rel=1e-2)
        assert r.reason.startswith(why), r.reason
    train_slice, _ = fake({0.01: 4.006, 0.00316: 4.487, 0.0316: 4.012})
    r = search_rate(decaying, budget, SearchConfig(rates=3), train_slice, tmp_path)
    assert r.chosen_rate == pytest.approx(0.0316, rel=1e-2)


def test_too_short_slice_keeps_the_recipe_after_one_slice(tmp_path):
    train_slice, seen = fake({0.01: 2.0, 0.00316: 1.0, 0.0316: 1.0}, steps=5)
    r = search_rate(ARM, BudgetConfig(seconds=120), SearchConfig(rates=3, min_steps=30), train_slice, tmp_path)
    assert seen == [0.01]  # one slice, at the recipe's rate: no more time spent
    assert r.chosen_rate == 0.01 and r.kept_recipe and "too short" in r.reason


def test_diverged_rates_are_not_chosen(tmp_path):
    train_slice, _ = fake({0.01: 2.0, 0.00316: 2.1, 0.0316: 0.5}, diverge=(0.0316227766,))
    r = search_rate(ARM, BudgetConfig(seconds=None, max_steps=400), SearchConfig(rates=3), train_slice, tmp_path)
    assert r.chosen_rate == 0.01
    assert [c["status"] for c in r.candidates] == ["ok", "ok", "diverged"]
    assert "too short" not in r.reason


def test_search_off(tmp_path):
    r = search_rate(ARM, BudgetConfig(seconds=60), SearchConfig(rates=0), None, tmp_path)
    assert r.chosen_rate == 0.01 and r.candidates == [] and r.reason == "search off"
    r = search_rate(ARM, BudgetConfig(seconds=60), SearchConfig(rates=3), None, tmp_path, unavailable="no tuning text")
    assert r.chosen_rate == 0.01 and r.candidates == [] and r.reason == "no tuning text: the recipe's rate is kept"


def test_a_slice_known_too_short_is_not_run(tmp_path):
    """A slice that cannot hold min_steps even at the machine's peak speed is known
    before training: nothing is trained and the recipe's rate is kept."""
    calls = []

    def train_slice(arm, budget, run_dir):
        calls.append(arm.learning_rate)
        raise SliceTooShort(1, "at twice this CPU's measured matmul speed")

    r = search_rate(ARM, BudgetConfig(seconds=120), SearchConfig(rates=3, min_steps=30), train_slice, tmp_path)
    assert calls == [0.01] and r.chosen_rate == 0.01 and r.kept_recipe
    assert r.candidates == [{"learning_rate": 0.01, "steps": 1, "subset_bits_per_byte": None, "status": "not run"}]
    assert "would hold at most 1 steps" in r.reason and "too short" in r.reason


def test_most_steps_bounds_each_kind_of_budget():
    # 4 x 256 tokens a step, 1e9 FLOPs a step
    assert most_steps(BudgetConfig(seconds=None, max_steps=10), 1024, 1e9, None) == 10
    assert most_steps(BudgetConfig(seconds=None, tokens=10_240), 1024, 1e9, None) == 10
    assert most_steps(BudgetConfig(seconds=None, flops=2.5e9), 1024, 1e9, None) == 3
    # 12 s at twice a 50 GFLOP/s peak: 1.2e12 FLOPs, 1200 steps of 1e9; a step of 8e11: 1 step
    assert most_steps(BudgetConfig(seconds=12), 1024, 1e9, 50.0) == 1200
    assert most_steps(BudgetConfig(seconds=12), 1024, 8e11, 50.0) == 1
    assert most_steps(BudgetConfig(seconds=12), 1024, 1e9, None) is None  # no peak known (a GPU): no bound
    assert most_steps(BudgetConfig(seconds=12, max_steps=5), 1024, 1e9, 50.0) == 5  # the tighter limit


def test_each_arm_pays_for_its_own_search_and_one_that_could_not_search_trains_on_all_of_it(tmp_path):
    """Each arm's budget holds its own search and its own training: the arm whose three
    slices ran trains on the 70% they leave; the arm whose slice was known too short to
    run trains on all of its budget, not on what another arm's search left."""
    from roundtable.comparison.runner import Comparison
    from roundtable.comparison.settings import compare_config
    from roundtable.report.page import _search_section
    from roundtable.results import load_results
    from tests.helpers import write_paragraphs

    lines = [f"paragraph {i}: " + "the quick brown fox jumps over the lazy dog. " * 3 for i in range(200)]
    train = write_paragraphs(tmp_path / "train.txt", lines[:160])
    valid = write_paragraphs(tmp_path / "valid.txt", lines[160:])
    arms = {  # 32 tokens a step (37 in a 1,200-token slice) against 512 (2: too few to run)
        "scratch-lstm": {"lstm_embed": 16, "lstm_hidden": 16, "block_size": 32, "batch_size": 1},
        "scratch-transformer": {"n_layer": 1, "n_embd": 16, "n_head": 2, "block_size": 32, "batch_size": 16},
    }
    cfg = compare_config({
        "task": "lm", "data": str(train), "valid": str(valid), "arms": ",".join(arms), "budget": "12ktok",
        "curve_points": 0, "arm_settings": arms, "out": str(tmp_path / "out"), "device": "cpu",
        "lr_search_min_steps": 30,
    })
    comp = Comparison(cfg, progress=False)
    comp.prepare()
    results = comp.run()
    statuses = {arm: [c["status"] for c in s["candidates"]] for arm, s in comp.search.items()}
    assert statuses == {"scratch-lstm": ["ok", "ok", "ok"], "scratch-transformer": ["not run"]}
    # 3 slices of 10% of 12,000 tokens come out of the LSTM's budget: 8,400 left; none out of the transformer's
    want = {"scratch-lstm": (0.3, 8400), "scratch-transformer": (0.0, 12_000)}
    for run in results["runs"]:
        reserve, tokens = want[run["arm"]]
        per_step = run["train_tokens"] / run["steps"]
        assert run["search_reserve"] == reserve  # as written, 0.3 and not 0.30000000000000004
        assert run["train_budget"] == {"kind": "tokens", "value": pytest.approx(tokens)}
        assert abs(run["train_tokens"] - tokens) <= per_step / 2, run["arm"]
    # the tuning text: 16 of the 160 training paragraphs (10%, under the 20 kB curve subset), the slices on the rest
    tuning = results["lr_search_tuning"]
    assert tuning["documents"] == 16 and tuning["slice_train_documents"] == 144
    assert tuning["bytes"] == sum(len(r.text.encode()) for r in comp.tuning()[1])
    text = " ".join(str(b) for b in _search_section(load_results(tmp_path / "out")))
    assert "30% of its budget, it trained on the other 70%" in text
    assert "no slice ran: it trained on all of its budget" in text
    assert "the same 16 training documents" in text and "tuning bits per byte" in text


def test_the_tuning_text_is_whole_training_documents_drawn_at_random_and_held_out():
    docs = [Record(text=f"document {i:03d} " + "x" * 86) for i in range(160)]  # 100 bytes each
    train, tuning = tuning_split(docs, 20_000, seed=0)
    assert len(tuning) == 16 and len(train) == 144  # 10% of the documents: the cap before 20 kB
    assert {r.text for r in train}.isdisjoint(r.text for r in tuning) and len({r.text for r in train + tuning}) == 160
    assert tuning_split(docs, 20_000, seed=0) == (train, tuning)  # the same for every arm and every resume
    assert tuning_split(docs, 20_000, seed=1)[1] != tuning  # a random draw, not the leading documents
    assert tuning != docs[:16] and tuning != docs[-16:]
    assert len(tuning_split(docs, 450, seed=0)[1]) == 5  # until 450 bytes are held: 5 of 100 bytes
    assert tuning_split(docs[:1], 20_000, seed=0) == (docs[:1], [])  # the only document stays to train on
    assert len(tuning_split(docs[:5], 20_000, seed=0)[1]) == 1  # at least one


def test_search_slices_score_the_same_tuning_bytes_for_every_arm_never_validation_or_their_training(
        tmp_path, english_txt, tiny_pretrained):
    """The tuning documents share no document with the validation text the verdict scores,
    nor with what the slices train on; every arm's slices are scored on the same tuning
    bytes, whatever its tokenizer (a byte-level LSTM and the tiny pretrained BPE model)."""
    from roundtable.comparison.runner import Comparison
    from roundtable.comparison.settings import compare_config
    from tests.helpers import TINY_ARMS, TINY_CONTEXT_BYTES

    seen = {}

    class Watched(Comparison):
        def _train_slice(self, prep, arm, budget, run_dir):
            seen[arm.name] = (prep.evaluator.full.doc_bytes.tolist(), prep.data.text_bytes, prep.evaluator.window)
            return super()._train_slice(prep, arm, budget, run_dir)  # 1 step < 30: known too short, not trained

    cfg = compare_config({
        "task": "lm", "data": str(english_txt), "arms": "finetune,scratch-lstm", "max_steps": 1,
        "arm_settings": TINY_ARMS, "context_bytes": TINY_CONTEXT_BYTES, "model": str(tiny_pretrained),
        "lr_search_min_steps": 30, "out": str(tmp_path / "out"), "device": "cpu",
    })
    comp = Watched(cfg, progress=False)
    comp.prepare()
    slice_train, tuning = comp.tuning()
    valid = {r.key for r in comp.corpus.valid}
    assert len(comp.corpus.train) == 270 and len(tuning) == 27 and len(slice_train) == 243  # 10% of 270
    assert valid.isdisjoint(r.key for r in tuning) and {r.key for r in slice_train}.isdisjoint(r.key for r in tuning)
    tuning_bytes = [len(r.text.encode()) for r in tuning]
    for arm in ("finetune", "scratch-lstm"):
        result = comp.search_arm(next(a for a in cfg.arms if a.name == arm))
        assert [c["status"] for c in result["candidates"]] == ["not run"]
        doc_bytes, text_bytes, window = seen[arm]
        prep = comp._prepared[(arm, 1.0)]
        assert doc_bytes == tuning_bytes  # the same tuning bytes for both tokenizers
        assert text_bytes == sum(len(r.text.encode()) for r in slice_train)  # the slices train without them
        assert text_bytes == prep.data.text_bytes - sum(tuning_bytes)  # the runs train on every document
        assert window == prep.evaluator.window  # the runs' window and evaluator
        assert prep.evaluator.full.doc_bytes.tolist() == [len(r.text.encode()) for r in comp.corpus.valid]
    assert comp.tuning_summary() == {"documents": 27, "bytes": sum(tuning_bytes), "slice_train_documents": 243,
                                     "source": "training documents held out from the search's slices"}

"""What a task is: the interface the comparison, the verdict and the report read.

A task says how documents become training examples and evaluation sets for one
tokenizer, which metric decides (and whether lower is better), and what else it scores
or compares against. Every arm goes through the same task object, so the task is where
"the same bytes for every arm" is kept; nothing outside ``tasks/`` asks which task it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from roundtable.config.settings import ArmConfig, CompareConfig, DataConfig
    from roundtable.data.corpus import Record
    from roundtable.evaluate.scorer import EvalSet


MIN_SAMPLE_RECORDS = 30
"""The fewest validation records a cut sample keeps: fewer leave the bootstrap little to resample."""
SAMPLE_STREAM = 0x5A3
"""Mixed with the split's seed for the sample's draw, so it is not the split's own stream."""


def sample_order(n: int, seed: int) -> list[int]:
    """A seeded random order of ``n`` units: the scored sample is a prefix of it, the
    same on every process, shard and --resume."""
    import numpy as np

    return np.random.default_rng([seed, SAMPLE_STREAM]).permutation(n).tolist()


@dataclass
class TrainingData:
    """An arm's training examples, with the block they fill and the bytes it holds."""

    dataset: object
    """TokenBlocks or BlockDataset: what the Trainer reads."""
    block_size: int
    """Longest training sequence in the arm's tokens, also its evaluation window."""
    context_bytes: int
    """Bytes of text one block holds, recorded per run."""


class Task:
    """The interface of a task. Subclasses set the class facts and implement the
    methods without a default; the optional ones return nothing by default."""

    name: ClassVar[str]
    primary_metric: ClassVar[str]
    """The key in a run's ``final`` scores that decides the verdict."""
    lower_is_better: ClassVar[bool]
    curve_key: ClassVar[str]
    """The curve value measured on the same bytes at every point."""
    doc_key: ClassVar[str]
    """Per-document values of the primary metric in ``valid_scores.npz`` (the bootstrap's input)."""
    unit: ClassVar[str]
    """The primary metric as a sentence names it."""
    extra_metrics: ClassVar[tuple[str, ...]] = ()
    """Scores besides bits per byte in a run's ``final``, each in [0, 1] with higher better
    (ROUGE): columns of the tables, and what the forecast fits as 1 - score."""
    scores_whole_text: ClassVar[bool] = False
    """Bits per byte are of the training text's kind as a whole (language modelling), so a
    table of its byte pairs bounds the first transient (forecast/arm.py); not of summaries
    given their documents."""

    @classmethod
    def facts(cls) -> dict:
        """What results.json carries of the task (``task_facts``), so that reading a file
        needs no task registry."""
        return {"primary_metric": cls.primary_metric, "lower_is_better": cls.lower_is_better, "unit": cls.unit,
                "extra_metrics": list(cls.extra_metrics)}

    @classmethod
    def from_config(cls, cfg: CompareConfig) -> Task:
        """The task with this comparison's settings."""
        return cls()

    # -- data ---------------------------------------------------------------------
    @classmethod
    def record_fields(cls, data: DataConfig) -> tuple[tuple[str, str], ...]:
        """(field, flag that names it) of each record, in Record order (text, summary)."""
        return ((data.text_field, "--text-field"),)

    def scored_texts(self, records: list[Record]) -> tuple[list[str], list[str]]:
        """(texts, their sources): every text an arm's tokenizer must give back exactly,
        because it is scored or conditioned on."""
        return [r.text for r in records], [r.source for r in records]

    def tokenizer_texts(self, records: list[Record]) -> list[str]:
        """The training text an arm's own tokenizer (BPE) is trained on: every field."""
        return [t for r in records for t in (r.text, r.summary) if t is not None]

    def train_data(self, tokenizer: Any, records: list[Record], arm: ArmConfig, context_bytes: int) -> TrainingData:
        raise NotImplementedError

    def eval_set(self, tokenizer: Any, records: list[Record]) -> EvalSet:
        raise NotImplementedError

    def scored_bytes(self, records: list[Record]) -> list[int]:
        """UTF-8 bytes each record adds to the scored text (the denominator of bits per byte)."""
        return [len(r.text.encode()) for r in records]

    def eval_sample(self, records: list[Record], max_bytes: int, seed: int = 0) -> list[Record]:
        """The validation text scored when all of it would cost too much (sample.py):
        records drawn uniformly at random without replacement (seeded), in the drawn
        order, until the next would pass ``max_bytes``, at least MIN_SAMPLE_RECORDS (the
        bootstrap resamples records). A per-record mean over a uniform draw estimates the
        whole split's without bias; a ratio of sums (bits per byte) with a bias of order
        1/records, far inside its interval. The leading records would not do: files are
        often sorted (by date, by source), and the first records of a file are no sample."""
        sizes = self.scored_bytes(records)
        if sum(sizes) <= max_bytes:
            return list(records)
        out: list[Record] = []
        total = 0
        for i in sample_order(len(records), seed):
            if len(out) >= MIN_SAMPLE_RECORDS and total + sizes[i] > max_bytes:
                break
            out.append(records[i])
            total += sizes[i]
        return out

    def sample_method(self) -> str:
        """How ``eval_sample`` draws, as results.json records it."""
        return "records drawn uniformly at random without replacement"

    def sample_counts(self, sample: list[Record]) -> tuple[int, int]:
        """(scoring units, validation documents they come from) of an ``eval_sample``."""
        return len(sample), len(sample)

    def eval_window(self, arm: ArmConfig, full: EvalSet) -> tuple[int, int]:
        """(window, stride) of the sliding-window evaluation in the arm's tokens."""
        assert arm.block_size is not None  # set from --context-bytes before any evaluation
        return arm.block_size, max(1, int(round(arm.block_size * arm.eval_stride)))

    # -- optional -----------------------------------------------------------------
    def extra_evaluator(self, tokenizer: Any, train: list[Record], valid: list[Record], progress: bool) -> Any:
        """A callable ``(model, full) -> scores`` run at every curve point, or None."""
        return None

    def save_extra(self, evaluator: Any, run_dir: Path, scores: dict) -> None:
        """Add the extra evaluator's per-document values to ``scores`` and write what it made."""

    def baselines(self, valid: list[Record]) -> dict:
        """Scores of trivial predictors on the validation text, beside the arms'."""
        return {}

    def baseline_warnings(self, means: dict[str, float | None], baselines: dict) -> list[str]:
        """Sentences for arms that do not beat a baseline (``means``: primary metric per arm)."""
        return []

    def samples(self, model: Any, tokenizer: Any, valid: list[Record], bytes_per_token: float) -> list[dict] | None:
        """Generated text to read in the report, or None."""
        return None

    @staticmethod
    def demo_data(folder: Path) -> Path:
        """Write the built-in demo's data for this task into ``folder``; return its path."""
        raise NotImplementedError

"""Language modelling: predict every byte of every document.

Every arm sees the same format, ``[TASK_START] text [TASK_END]``, in blocks that hold
the same bytes of text for every arm (``--context-bytes``). Scored text is exactly the
document bytes, so the evaluator divides by the same number for every arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from roundtable.core.errors import DataError
from roundtable.data.corpus import Record, cut_bytes
from roundtable.tasks.base import Task, TrainingData, sample_order

if TYPE_CHECKING:
    from roundtable.config.settings import ArmConfig, CompareConfig
    from roundtable.evaluate.scorer import EvalSet

MIN_SAMPLE_BYTES = 4096
"""The least text a cut LM sample keeps: about a thousand tokens of the default model."""
MIN_PIECE_BYTES = 1024
PIECE_CONTEXTS = 4
"""A long document is sampled in pieces of PIECE_CONTEXTS contexts (at least
MIN_PIECE_BYTES): each piece after the first is read after one context of the text
before it, so a quarter more text is run than scored, and a sample of pieces has
several times the units of one of whole long documents."""


@dataclass(frozen=True)
class Piece(Record):
    """A unit of the scored sample: a whole document, or a piece of a long one read
    after ``context`` (the document's text just before it, up to the comparison's
    context in bytes; run through the model, not scored), so every byte of the piece is
    predicted from the same kind of context as within the whole text."""

    context: str = ""
    document: int = -1
    """Index of its document in the validation split."""


def split_pieces(text: str, limit: int) -> list[str]:
    """``text`` in consecutive pieces of at most ``limit`` UTF-8 bytes, each ending
    before a whitespace where one is near; their concatenation is ``text``."""
    pieces, rest = [], text
    while len(rest.encode()) > limit:
        head = cut_bytes(rest, limit) or rest[0]
        pieces.append(head)
        rest = rest[len(head):]
    return [*pieces, rest]


@dataclass
class LMTask(Task):
    context_bytes: int = 1024
    """The comparison's --context-bytes: how much text a sampled piece is read after."""

    name = "lm"
    scores_whole_text = True
    primary_metric = "valid_bits_per_byte"
    lower_is_better = True
    curve_key = "subset_bits_per_byte"
    doc_key = "doc_nll_nats"
    unit = "bits per byte"

    @classmethod
    def from_config(cls, cfg: CompareConfig) -> LMTask:
        return cls(cfg.context_bytes)

    def _stream(self, tokenizer: Any, records: list[Record]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``[TASK_START] text [TASK_END]`` per record; a piece of a document is its
        context (unscored) then its text, without [TASK_START]: it does not begin a document."""
        from roundtable.data.tokenization import encode_texts, task_token_ids

        start, end = task_token_ids(tokenizer)
        contexts = encode_texts(tokenizer, [getattr(r, "context", "") for r in records])
        ids, scored, doc = [], [], []
        for i, (ctx, toks) in enumerate(zip(contexts, encode_texts(tokenizer, [r.text for r in records]))):
            head = ctx if ctx else [start]
            ids += [*head, *toks, end]
            scored += [False] * len(head) + [True] * len(toks) + [False]
            doc += [-1] * len(head) + [i] * len(toks) + [-1]
        return np.asarray(ids, np.int64), np.asarray(scored, bool), np.asarray(doc, np.int32)

    def train_data(self, tokenizer: Any, records: list[Record], arm: ArmConfig, context_bytes: int) -> TrainingData:
        """Blocks of one token stream; the block is the context in bytes divided by the
        arm's bytes per token on the training split, unless the arm sets its own."""
        from roundtable.data.tokenization import block_for, bytes_per_token

        bpt = bytes_per_token(tokenizer, [r.text for r in records])
        block = arm.block_size or block_for(context_bytes, bpt)
        return TrainingData(self.train_dataset(tokenizer, records, block, arm.name), block, round(block * bpt))

    def train_dataset(self, tokenizer: Any, records: list[Record], block_size: int, arm: str) -> Any:
        from roundtable.data.tokencache import lm_blocks

        blocks = lm_blocks(tokenizer, [r.text for r in records], block_size)
        if len(blocks) == 0:
            raise DataError(
                f"training data too small for one training block of arm {arm}: "
                f"{blocks.stream_tokens} tokens < block size {block_size}"
            )
        return blocks

    def eval_set(self, tokenizer: Any, records: list[Record]) -> EvalSet:
        from roundtable.evaluate.scorer import EvalSequence, EvalSet

        ids, scored, doc = self._stream(tokenizer, records)
        return EvalSet(
            sequences=[EvalSequence(ids=ids, scored=scored, doc=doc)],
            doc_bytes=np.asarray([len(r.text.encode()) for r in records], np.int64),
            pad_id=tokenizer.pad_token_id,
            # a piece's document; a whole document (the unsampled text) is its own
            doc_group=np.asarray([r.document if isinstance(r, Piece) and r.document >= 0 else i
                                  for i, r in enumerate(records)], np.int64),
        )

    @property
    def piece_bytes(self) -> int:
        return max(MIN_PIECE_BYTES, PIECE_CONTEXTS * self.context_bytes)

    def pieces(self, records: list[Record]) -> list[Piece]:
        """Every validation byte in exactly one unit: short documents whole, long ones in
        pieces of at most ``piece_bytes``, each with the context its document gives it."""
        out = []
        for i, r in enumerate(records):
            done = ""
            for text in split_pieces(r.text, self.piece_bytes):
                context = done.encode()[-self.context_bytes:].decode("utf-8", errors="ignore") if done else ""
                out.append(Piece(text, r.summary, r.source, context, i))
                done += text
        return out

    def eval_sample(self, records: list[Record], max_bytes: int, seed: int = 0) -> list[Record]:
        """Units (``pieces``) drawn uniformly at random without replacement (seeded), in
        the drawn order, until the next would pass ``max_bytes`` (MIN_SAMPLE_BYTES at
        least), counting the context each is read after, as scoring runs it. Bits per
        byte on the sample is a ratio of sums over the drawn units: all but the last
        piece of a long document have the same size, and with equal sizes the ratio is
        the mean of the units' own bits per byte, an unbiased estimate of the whole
        text's; shorter units leave a bias of order 1/units, far inside the bootstrap's
        interval over the units. A document's leading part would not do: titles and
        openings are harder than the rest, so it overstates every arm's score."""
        max_bytes = max(max_bytes, MIN_SAMPLE_BYTES)
        if sum(self.scored_bytes(records)) <= max_bytes:
            return list(records)
        units = self.pieces(records)
        out: list = []
        total = 0
        for i in sample_order(len(units), seed):
            n = len(units[i].text.encode()) + len(units[i].context.encode())
            if out and total + n > max_bytes:
                break
            out.append(units[i])
            total += n
        return out

    def sample_method(self) -> str:
        return (f"documents, long ones in pieces of at most {self.piece_bytes} bytes each read after up to "
                f"{self.context_bytes} bytes of the text before it, drawn uniformly at random without replacement")

    def sample_counts(self, sample: list[Record]) -> tuple[int, int]:
        return len(sample), len({getattr(r, "document", id(r)) for r in sample})

    def samples(self, model: Any, tokenizer: Any, valid: list[Record], bytes_per_token: float) -> list[dict] | None:
        """Three continuations of the first validation documents' openings."""
        from roundtable.evaluate.generate import lm_samples

        prompts = [cut_bytes(r.text, 80) for r in valid[:3]]
        return lm_samples(model, tokenizer, prompts, 200, bytes_per_token)

    @staticmethod
    def demo_data(folder: Path) -> Path:
        from roundtable.data.demo import write_lm_data

        return write_lm_data(folder)

"""Read the user's files into documents, validate them, and split them.

A document is the unit of the train/validation split: a paragraph of a text file
(blocks separated by blank lines), a whole file in a folder, or one record of a
.jsonl/.json/.csv file. Every problem is reported as a one-line ``DataError`` that
names the file (and line, where there is one).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from roundtable.core.errors import DataError

if TYPE_CHECKING:  # annotations only: config reads the task registry, whose tasks read this module
    from roundtable.config.settings import DataConfig

RECORD_SUFFIXES = (".jsonl", ".json", ".csv")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Record:
    """One document. ``summary``: the second field of a two-field task (summarize)."""

    text: str
    summary: str | None = None
    source: str = ""
    """file:line where the document starts, for messages."""

    @property
    def key(self) -> str:
        """What makes two documents the same, for leak removal."""
        return " ".join(self.text.split())


@dataclass
class Corpus:
    """The split data that every arm trains and is scored on."""

    train: list[Record]
    valid: list[Record]
    overlap_removed: int = 0
    """Training documents dropped because the same document is in validation."""
    skipped_records: int = 0
    skipped_examples: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        """SHA-256 of the documents as read (train and validation): part of the
        comparison's identity, so --resume refuses to mix runs scored on other text."""
        h = hashlib.sha256()
        for part in (self.train, self.valid):
            for r in part:
                h.update(r.text.encode())
                h.update(b"\x00" + (r.summary or "").encode() + b"\x01")
            h.update(b"\x02")
        return h.hexdigest()

    def summary(self) -> dict:
        def nbytes(records):
            return sum(len(r.text.encode()) + len((r.summary or "").encode()) for r in records)

        return {
            "train_bytes": nbytes(self.train),
            "valid_bytes": nbytes(self.valid),
            "train_records": len(self.train),
            "valid_records": len(self.valid),
            "overlap_removed": self.overlap_removed,
            "skipped_records": self.skipped_records,
        }


class _Reader:
    """Reads one path into records of the given fields, counting skipped records."""

    def __init__(self, cfg: DataConfig, fields: tuple[tuple[str, str], ...], task: str):
        self.cfg = cfg
        self.fields = fields
        """(record field, flag that names it): one for text, two for (text, summary)."""
        self.task = task
        self.skipped: list[str] = []

    # -- files -------------------------------------------------------------
    def read(self, path: str) -> list[Record]:
        p = Path(path)
        if not p.exists():
            raise DataError(f"no such file or folder: {path}")
        if p.is_dir():
            files = sorted(
                f for f in p.rglob("*") if f.is_file() and not any(x.startswith(".") for x in f.relative_to(p).parts)
            )
            if not files:
                raise DataError(f"folder has no files: {path}")
            records = [r for f in files for r in self._read_file(f, whole=True)]
        else:
            records = self._read_file(p, whole=False)
        if not records:
            raise DataError(f"no usable documents in {path}")
        return records

    def _decode(self, p: Path) -> str:
        raw = p.read_bytes()
        if not raw.strip():
            raise DataError(f"file is empty{' (only whitespace)' if raw else ''}: {p}")
        if b"\x00" in raw[:8192]:
            raise DataError(f"looks like a binary file (NUL bytes), not text: {p}")
        try:
            text = raw.decode("utf-8", errors=self.cfg.encoding_errors)
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            col = e.start - (raw.rfind(b"\n", 0, e.start) + 1)
            raise DataError(
                f"invalid UTF-8 byte 0x{raw[e.start]:02x} at byte offset {e.start} (column {col + 1}); "
                "fix the file or pass --encoding-errors replace",
                where=f"{p}:{line}",
            ) from None
        if text.startswith("\ufeff"):
            text = text[1:]
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # Windows and old Mac line ends
        if not text.strip():
            raise DataError(f"file holds only whitespace: {p}")
        return text

    def _read_file(self, p: Path, whole: bool) -> list[Record]:
        suffix = p.suffix.lower()
        if suffix in RECORD_SUFFIXES:
            text = self._decode(p)
            return {".jsonl": self._jsonl, ".json": self._json, ".csv": self._csv}[suffix](p, text)
        if len(self.fields) > 1:
            names = " and ".join(f for f, _ in self.fields)
            raise DataError(f"{self.task} needs .jsonl, .json or .csv records with {names} fields: {p}")
        text = self._decode(p)
        if whole:
            return [Record(text=text.strip(), source=f"{p}:1")]
        return self._paragraphs(p, text)

    @staticmethod
    def _paragraphs(p: Path, text: str) -> list[Record]:
        records, pos = [], 0
        for m in list(_PARAGRAPH.finditer(text)) + [None]:
            end = m.start() if m else len(text)
            chunk = text[pos:end]
            if chunk.strip():
                line = text.count("\n", 0, pos + len(chunk) - len(chunk.lstrip())) + 1
                records.append(Record(text=chunk.strip(), source=f"{p}:{line}"))
            pos = m.end() if m else len(text)
        return records

    # -- records -----------------------------------------------------------
    def _bad(self, where: str, message: str) -> None:
        if not self.cfg.skip_bad_records:
            raise DataError(message + " (pass --skip-bad-records to skip such records)", where=where)
        self.skipped.append(f"{where}: {message}")

    def _records(self, items: list[tuple[object, str]]) -> list[Record]:
        """The records of one file, from (parsed object, file:line). A field that no
        record of the file holds is a wrong field name, not bad records: the error names
        the flag that picks the field, since skipping every record would leave nothing."""
        for name, flag in self.fields:
            objects = [obj for obj, _ in items if isinstance(obj, dict)]
            if objects and not any(name in obj for obj in objects):
                where = next(w for obj, w in items if isinstance(obj, dict))
                have = ", ".join(sorted({str(k) for obj in objects for k in obj})[:8]) or "none"
                raise DataError(f"no record has a field {name!r} (fields found: {have}); choose one with {flag} NAME",
                                where=where)
        return [r for obj, where in items if (r := self._record(obj, where))]

    def _record(self, obj, where: str) -> Record | None:
        if not isinstance(obj, dict):
            self._bad(where, f"record is a {type(obj).__name__}, not an object")
            return None
        values = []
        for name, _ in self.fields:
            if name not in obj:
                have = ", ".join(sorted(map(str, obj))[:8]) or "none"
                self._bad(where, f"missing field {name!r} (fields found: {have})")
                return None
            v = obj[name]
            if not isinstance(v, str):
                self._bad(where, f"field {name!r} is a {type(v).__name__}, not a string")
                return None
            if not v.strip():
                self._bad(where, f"field {name!r} is empty")
                return None
            values.append(v.strip())
        return Record(text=values[0], summary=values[1] if len(values) > 1 else None, source=where)

    def _jsonl(self, p: Path, text: str) -> list[Record]:
        items = []
        for i, line in enumerate(text.split("\n"), start=1):  # not splitlines: JSON strings may hold U+2028
            if not line.strip():
                continue
            try:
                items.append((json.loads(line), f"{p}:{i}"))
            except json.JSONDecodeError as e:
                raise DataError(f"malformed JSON line: {e.msg} (column {e.colno})", where=f"{p}:{i}") from None
        return self._records(items)

    def _json(self, p: Path, text: str) -> list[Record]:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"malformed JSON: {e.msg} (column {e.colno})", where=f"{p}:{e.lineno}") from None
        if isinstance(obj, dict):
            lists = [v for v in obj.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise DataError(f"expected a list of records (or an object holding one list): {p}")
            obj = lists[0]
        if not isinstance(obj, list):
            raise DataError(f"expected a list of records: {p}")
        return self._records([(item, f"{p}:record {i + 1}") for i, item in enumerate(obj)])

    def _csv(self, p: Path, text: str) -> list[Record]:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = reader.fieldnames or []
        for name, flag in self.fields:
            if name not in columns:
                raise DataError(f"no column {name!r} (columns: {', '.join(columns) or 'none'}); choose one with "
                                f"{flag} NAME", where=f"{p}:1")
        out = []
        try:
            for row in reader:
                r = self._record({k: v for k, v in row.items() if k is not None}, f"{p}:{reader.line_num}")
                if r:
                    out.append(r)
        except csv.Error as e:
            raise DataError(f"malformed CSV: {e}", where=f"{p}:{reader.line_num}") from None
        return out


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def load_corpus(cfg: DataConfig, fields: tuple[tuple[str, str], ...], task: str) -> Corpus:
    """Read and split the data; drop training documents that also occur in validation.
    ``fields``: the task's (record field, flag) pairs; ``task`` names it in errors."""
    reader = _Reader(cfg, fields, task)
    if cfg.valid is not None and _same_file(cfg.path, cfg.valid):
        raise DataError(f"--data and --valid are the same file: {cfg.valid}")
    records = reader.read(cfg.path)
    if cfg.valid is not None:
        valid = reader.read(cfg.valid)
        train = records
    else:
        if len(records) < 2:
            raise DataError(f"{cfg.path} holds one document; need at least 2 to split, or give --valid")
        order = list(range(len(records)))
        random.Random(cfg.split_seed).shuffle(order)
        n_valid = min(len(records) - 1, max(1, round(cfg.valid_fraction * len(records))))
        held = set(order[:n_valid])
        valid = [r for i, r in enumerate(records) if i in held]
        train = [r for i, r in enumerate(records) if i not in held]
    valid_keys = {r.key for r in valid}
    kept = [r for r in train if r.key not in valid_keys]
    if not kept:
        raise DataError("every training document also occurs in the validation data")
    return Corpus(
        train=kept,
        valid=valid,
        overlap_removed=len(train) - len(kept),
        skipped_records=len(reader.skipped),
        skipped_examples=reader.skipped[:20],
    )


def nested_subset(records: list[Record], fraction: float, seed: int) -> list[Record]:
    """The first ``fraction`` of a fixed permutation: smaller subsets lie inside larger ones."""
    if fraction >= 1.0:
        return list(records)
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    chosen = set(order[: max(1, math.ceil(fraction * len(records)))])
    return [r for i, r in enumerate(records) if i in chosen]


def cut_bytes(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-8 bytes, ending at whitespace if one is near."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    head = raw[:limit].decode("utf-8", errors="ignore")
    space = head.rfind(" ")
    return head[:space] if space > limit // 2 else head


def first_by_bytes(records: list[Record], max_bytes: int) -> list[Record]:
    """The leading documents holding at least ``max_bytes`` bytes of text (all if 0)."""
    if max_bytes <= 0:
        return records
    out, total = [], 0
    for r in records:
        out.append(r)
        total += len(r.text.encode()) + len((r.summary or "").encode())
        if total >= max_bytes:
            break
    return out

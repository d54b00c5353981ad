"""The ONNX runtime of sentence-transformers encoders on tiny offline models: the same vectors as torch for
several module chains, the export cache (reuse, re-export on change, atomicity), clear refusals, config keys,
and a trained model through ingest and search."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gcl_search.config import EncoderSpec, parse_config
from gcl_search.encoders import onnx_export
from gcl_search.encoders.onnx import OnnxSentenceEncoder
from gcl_search.encoders.registry import load_encoder, save_encoder
from gcl_search.errors import ConfigError
from tests.helpers_models import tiny_st_model_dir

pytest.importorskip("onnxruntime")

TEXTS = [
    "black laptop bag",
    "usb cable",
    "hp printer ink toner black for office",
    "a",
    "wireless mouse",
    "apple " * 40,
    "Samsung 4K TV, 55 inch, with HDMI and USB",
]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty export cache."""
    monkeypatch.setenv("GCL_SEARCH_ONNX_CACHE", str(tmp_path / "onnx-cache"))
    return tmp_path / "onnx-cache"


@pytest.fixture(scope="module")
def st_dir(tmp_path_factory) -> Path:
    return tiny_st_model_dir(tmp_path_factory.mktemp("st"))


def spec(model: Path | str, runtime: str = "onnx", **kw: object) -> EncoderSpec:
    return EncoderSpec(
        backend="sentence-transformers",
        model=str(model),
        device="cpu",
        batch_size=2,
        runtime=runtime,
        name="tiny",
        **kw,
    )


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum(axis=1).min())


def entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_onnx_vectors_equal_torch(st_dir, cache, capsys):
    torch_enc, onnx_enc = load_encoder(spec(st_dir, "torch")), load_encoder(spec(st_dir))
    assert isinstance(onnx_enc, OnnxSentenceEncoder) and onnx_enc.dim == torch_enc.dim == 32
    assert "exporting encoder 'tiny' to ONNX" in capsys.readouterr().err
    expected = torch_enc.encode_texts(TEXTS)
    for bs in (1, 3, 64):
        got = onnx_enc.encode_texts(TEXTS, batch_size=bs)
        assert got.dtype == np.float32 and got.shape == (len(TEXTS), 32)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
        assert min_cosine(got, expected) >= 0.99999
    assert onnx_enc.encode_texts([]).shape == (0, 32)
    with pytest.raises(ConfigError, match="encodes text only"):
        onnx_enc.encode_images(["x.png"])
    onnx_enc.encode_texts(TEXTS, progress=True)
    assert capsys.readouterr().out == ""
    meta = json.loads((cache / entries(cache)[0] / "meta.json").read_text())
    assert meta["modules"] == ["Transformer", "Pooling"] and meta["min_cosine_vs_torch"] >= 0.9999


def _variant(tmp_path: Path, st_dir: Path, pooling: object, dense: bool, normalize: bool) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(str(st_dir.parent / "tiny-bert"), max_seq_length=32)  # helpers_models' HF dir
    modules = [transformer, Pooling(32, pooling_mode=pooling)]
    width = modules[-1].get_embedding_dimension()
    if dense:
        torch.manual_seed(1)
        modules.append(Dense(width, 16, activation_function=torch.nn.Tanh()))
    if normalize:
        modules.append(Normalize())
    out = tmp_path / "variant"
    SentenceTransformer(modules=modules, device="cpu").save(str(out))
    return out


@pytest.mark.parametrize(
    "pooling, dense, normalize",
    [
        ("cls", True, True),
        ("max", False, True),
        (("mean", "mean_sqrt_len_tokens"), True, False),
        ("lasttoken", False, False),
        ("weightedmean", False, True),
    ],
)
def test_module_chains_are_the_models_own(tmp_path, st_dir, pooling, dense, normalize):
    model_dir = _variant(tmp_path, st_dir, pooling, dense, normalize)
    expected = load_encoder(spec(model_dir, "torch")).encode_texts(TEXTS)
    got = load_encoder(spec(model_dir))
    assert got.dim == expected.shape[1]
    assert min_cosine(got.encode_texts(TEXTS), expected) >= 0.99999


def test_cache_is_reused_and_a_changed_model_is_exported_again(tmp_path, st_dir, cache, monkeypatch):
    import shutil

    import torch
    from sentence_transformers import SentenceTransformer

    model_dir = tmp_path / "model"
    shutil.copytree(st_dir, model_dir)
    load_encoder(spec(model_dir))
    first = entries(cache)
    calls = []
    real_export = torch.onnx.export

    def counting_export(*args, dynamo=False, **kwargs):
        calls.append(1)
        return real_export(*args, dynamo=dynamo, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", counting_export)
    load_encoder(spec(model_dir))
    assert calls == [] and entries(cache) == first  # same files: no export
    model = SentenceTransformer(str(model_dir), device="cpu")
    with torch.no_grad():
        next(model.parameters()).add_(0.5)  # "fine-tune", save in place
    model.save(str(model_dir))
    changed = load_encoder(spec(model_dir))
    assert calls == [1] and len(entries(cache)) == 2
    expected = load_encoder(spec(model_dir, "torch")).encode_texts(TEXTS)
    assert min_cosine(changed.encode_texts(TEXTS), expected) >= 0.99999


def test_missing_onnxruntime_names_what_to_install(st_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    with pytest.raises(ConfigError, match=r"needs onnxruntime.*pip install 'gcl-search\[onnx\]'"):
        load_encoder(spec(st_dir))
    fallback = load_encoder(spec(st_dir, "auto"))  # auto falls back to torch, saying why
    assert not isinstance(fallback, OnnxSentenceEncoder)
    assert "runtime = 'auto' uses torch" in capsys.readouterr().err


def test_a_failed_export_leaves_nothing_in_the_cache(st_dir, cache, monkeypatch):
    import torch

    def broken_export(model, args, path, **kwargs):
        Path(path).write_bytes(b"partial onnx")
        raise RuntimeError("exporter crashed half way")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.raises(ConfigError, match="torch.onnx.export failed.*half way.*runtime = 'torch'"):
        load_encoder(spec(st_dir))
    assert entries(cache) == []


def test_an_export_that_disagrees_with_torch_is_refused(st_dir, cache):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(st_dir), device="cpu").eval()
    with pytest.raises(ConfigError, match="does not reproduce the torch model"):
        onnx_export.exported_model(model, "tiny", int8=False, verify=lambda path: 0.5, cache_dir=cache)
    assert entries(cache) == []


def test_modules_the_export_cannot_reproduce_are_refused(st_dir):
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(st_dir), device="cpu")
    model.append(torch.nn.Identity())
    with pytest.raises(ConfigError, match=r"cannot export module 2 \(Identity\).*runtime = 'torch'"):
        onnx_export.check_exportable(model, "tiny", None)
    model = SentenceTransformer(str(st_dir), device="cpu")
    model[1].include_prompt = False
    onnx_export.check_exportable(model, "tiny", None)
    with pytest.raises(ConfigError, match="excludes the prompt"):
        onnx_export.check_exportable(model, "tiny", "query: ")


def test_int8_is_an_explicit_separate_export(st_dir, cache):
    fp32 = load_encoder(spec(st_dir))
    int8 = load_encoder(spec(st_dir, "onnx-int8"))
    assert int8.model_path != fp32.model_path and int8.model_path.parent.name.endswith("-int8")
    assert int8.model_path.stat().st_size < fp32.model_path.stat().st_size
    assert min_cosine(int8.encode_texts(TEXTS), fp32.encode_texts(TEXTS)) > 0.9


def test_threads_follow_torch_unless_given(st_dir):
    import torch

    enc = load_encoder(spec(st_dir))
    assert enc.session.get_session_options().intra_op_num_threads == torch.get_num_threads()
    one = OnnxSentenceEncoder(enc.model, enc.model_path, "tiny", threads=1)
    assert one.session.get_session_options().intra_op_num_threads == 1
    np.testing.assert_allclose(one.encode_texts(TEXTS), enc.encode_texts(TEXTS), atol=1e-6)


def test_runtime_key_validation():
    assert EncoderSpec(backend="sentence-transformers", model="m").runtime == "torch"
    with pytest.raises(ConfigError, match="runtime = 'tensorrt' is not known"):
        EncoderSpec(backend="sentence-transformers", model="m", runtime="tensorrt")
    with pytest.raises(ConfigError, match="exports sentence-transformers models only"):
        EncoderSpec(backend="open_clip", model="ViT-B-32", runtime="onnx")
    with pytest.raises(ConfigError, match="runs on the CPU"):
        EncoderSpec(backend="sentence-transformers", model="m", runtime="onnx", device="cuda")
    assert EncoderSpec(backend="open_clip", model="ViT-B-32", runtime="auto").runtime == "auto"
    config = parse_config(
        {
            "encoders": {"m": {"backend": "sentence-transformers", "model": "x", "runtime": "onnx-int8"}},
            "fields": [{"name": "title", "encoder": "m"}],
        }
    )
    assert config.encoders["m"].runtime == "onnx-int8"


def test_auto_takes_onnx_on_cpu_and_save_keeps_the_runtime(st_dir, tmp_path):
    enc = load_encoder(spec(st_dir, "auto"))
    assert isinstance(enc, OnnxSentenceEncoder) and enc.runtime == "onnx"
    saved = save_encoder(enc, tmp_path / "saved")
    assert saved.runtime == "onnx"
    np.testing.assert_allclose(load_encoder(saved).encode_texts(TEXTS), enc.encode_texts(TEXTS), atol=1e-6)


def test_a_trained_model_through_ingest_and_search(st_dir, tmp_path, monkeypatch):
    """A model directory as `gcl-search train` writes it (training.export), ingested and queried with
    runtime = "onnx": the same ranking and scores as the torch runtime on the same index."""
    import torch

    from gcl_search.cli import main
    from gcl_search.encoders.sentence import load_sentence_transformer
    from gcl_search.training.export import export_model

    trained = load_sentence_transformer(spec(st_dir, "torch"))
    with torch.no_grad():
        for p in trained.model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    export_model(trained, tmp_path / "trained", {"name": "tiny GCL"})
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    words = ["black laptop bag", "usb cable", "hp printer ink", "wireless mouse", "samsung tv", "apple phone"]
    (tmp_path / "cat.jsonl").write_text(
        "".join(json.dumps({"doc_id": f"d{i}", "title": w}) + "\n" for i, w in enumerate(words))
    )
    results = {}
    for runtime in ("onnx", "torch"):
        config = tmp_path / f"{runtime}.toml"
        config.write_text(
            f'[encoders.m]\nbackend = "sentence-transformers"\nmodel = "./trained"\n'
            f'device = "cpu"\nruntime = "{runtime}"\n\n'
            '[[fields]]\nname = "title"\nencoder = "m"\n'
        )
        base = ["--config", str(config), "--store", str(tmp_path / "stores"), "--index", "products"]
        if runtime == "onnx":
            ingest = CliRunner().invoke(
                main,
                ["ingest", *base, "--catalogue", str(tmp_path / "cat.jsonl"), "--no-progress"],
                catch_exceptions=False,
            )
            assert ingest.exit_code == 0, ingest.output
        found = CliRunner().invoke(
            main, ["search", *base, "-q", "usb cable", "-k", "6", "--format", "jsonl"], catch_exceptions=False
        )
        assert found.exit_code == 0, found.output
        results[runtime] = [
            json.loads(line[line.index("{") :]) for line in found.output.splitlines() if "{" in line
        ]  # stderr's progress shares the output
    assert [h["doc_id"] for h in results["onnx"]] == [h["doc_id"] for h in results["torch"]]
    assert len(results["onnx"]) == 6 and results["onnx"][0]["doc_id"] == "d1"  # "usb cable" itself
    assert results["onnx"][0]["doc_id"] == "d1"
    np.testing.assert_allclose(
        [h["score"] for h in results["onnx"]], [h["score"] for h in results["torch"]], atol=1e-5
    )

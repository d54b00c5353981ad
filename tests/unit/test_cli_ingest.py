"""`gcl-search ingest` through click's CliRunner: one success, resume, and each error class."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gcl_search.cli import main
from gcl_search.stores.base import DenseField, IndexLayout
from gcl_search.stores.local import LocalStore
from tests.fakes import KeywordEncoder, keyword_toml, write_catalogue


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    """A working directory with a config, and the encoder loader replaced by the keyword encoder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENSEARCH_URL", raising=False)
    (tmp_path / "cfg.toml").write_text(keyword_toml(description_source="desc"))
    loaded = []

    def fake_load(config, names=None):
        loaded.append(KeywordEncoder())
        return {"kw": loaded[-1]}

    monkeypatch.setattr("gcl_search.ingest.job.load_encoders", fake_load)
    return tmp_path, loaded


def _ingest(*args: str, env: dict | None = None):
    runner = CliRunner()
    return runner.invoke(main, ["ingest", "-c", "cfg.toml", "--no-progress", *args], env=env)


def test_success_prints_the_summary_and_exits_0(workdir):
    tmp_path, loaded = workdir
    write_catalogue(tmp_path / "cat.jsonl", 10)
    result = _ingest(
        "--catalogue", "cat.jsonl", "--id-column", "id", "--store", "stores", "--index", "products"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("indexed 10, skipped 0, failed 0 in ")
    assert "into stores/products" in result.stdout
    assert LocalStore(tmp_path / "stores" / "products").count() == 10
    # one batch: ten titles plus the one distinct description (texts are de-duplicated within a batch)
    assert len(loaded[0].encoded) == 11
    assert not (tmp_path / ".gcl-search" / "ingest-products.checkpoint.json").exists()


def test_failures_exit_1_name_the_first_and_fill_the_failures_file(workdir):
    tmp_path, _ = workdir
    write_catalogue(tmp_path / "cat.jsonl", 10, bad_every=5)
    result = _ingest(
        "--catalogue", "cat.jsonl", "--id-column", "id", "--index", "p", "--failures-file", "fails.jsonl"
    )
    assert result.exit_code == 1
    assert result.stdout.startswith("indexed 8, skipped 0, failed 2 ")
    assert f"indexed 8, failed 2 (first: {Path('cat.jsonl')}:5 read malformed JSON" in result.stderr
    assert "every failure is in fails.jsonl" in result.stderr
    lines = [json.loads(line) for line in (tmp_path / "fails.jsonl").read_text().splitlines()]
    assert [line["location"] for line in lines] == ["cat.jsonl:5", "cat.jsonl:10"]


def test_interrupted_ingest_resumes_without_re_encoding(workdir, monkeypatch):
    tmp_path, loaded = workdir
    write_catalogue(tmp_path / "cat.jsonl", 12)

    def crash_on_third_batch(call):
        if call == 2:
            raise KeyboardInterrupt

    real_init = KeywordEncoder.__init__

    def init(self, name="kw"):
        real_init(self, name)
        self.on_encode = crash_on_third_batch if not loaded else None

    monkeypatch.setattr(KeywordEncoder, "__init__", init)
    args = ("--catalogue", "cat.jsonl", "--id-column", "id", "--index", "p", "--batch-size", "4")
    first = _ingest(*args)
    assert first.exit_code != 0
    assert LocalStore(tmp_path / "gcl-store" / "p").count() == 8
    second = _ingest(*args)
    assert second.exit_code == 0, second.output
    assert second.stdout.startswith("indexed 4, skipped 8, failed 0")
    expected = [f"{colour} usb cable {i}" for i, colour in zip(range(8, 12), ["red", "black"] * 2)]
    assert sorted(t for t in loaded[1].encoded if "usb" in t) == sorted(expected)
    assert LocalStore(tmp_path / "gcl-store" / "p").count() == 12
    third = _ingest(*args, "--no-resume")
    assert third.stdout.startswith("indexed 12, skipped 0")


def test_mapping_error_fails_before_loading_models(workdir):
    tmp_path, loaded = workdir
    (tmp_path / "cat.jsonl").write_text(json.dumps({"id": "a", "title": "usb"}) + "\n")
    result = _ingest("--catalogue", "cat.jsonl", "--id-column", "id", "--index", "p")
    assert result.exit_code == 1 and loaded == []
    assert "mapped column(s) 'desc' not found" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("--catalogue", "missing.jsonl", "--index", "p"), "no such catalogue file"),
        (("--catalogue", "cat.xml", "--index", "p"), "cannot tell the format"),
        (("--catalogue", "cat.jsonl"), "name the target: --index NAME"),
        (("--catalogue", "cat.jsonl", "--alias", "products"), "--alias needs OpenSearch"),
    ],
)
def test_bad_options_and_inputs_exit_1_with_a_message(workdir, args, message):
    tmp_path, _ = workdir
    write_catalogue(tmp_path / "cat.jsonl", 2)
    (tmp_path / "cat.xml").write_text("<x/>")
    result = _ingest(*args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr


def test_bad_config_exits_1(workdir):
    tmp_path, _ = workdir
    (tmp_path / "cfg.toml").write_text("[[fields]]\nname = 'title'\nencoder = 'nope'\n")
    write_catalogue(tmp_path / "cat.jsonl", 2)
    result = _ingest("--catalogue", "cat.jsonl", "--id-column", "id", "--index", "p")
    assert result.exit_code == 1 and "cfg.toml" in result.stderr and "'nope' is not defined" in result.stderr


def test_existing_index_with_other_dimensions_exits_1(workdir):
    tmp_path, _ = workdir
    LocalStore(tmp_path / "gcl-store" / "p").create(
        IndexLayout((DenseField("title", 16, "kw"), DenseField("description", 8, "kw")))
    )
    write_catalogue(tmp_path / "cat.jsonl", 2)
    result = _ingest("--catalogue", "cat.jsonl", "--id-column", "id", "--index", "p")
    assert result.exit_code == 1
    assert "'title' has dimension 16 in the index but 8 in the config" in result.stderr


def test_checkpoint_of_another_run_exits_1(workdir):
    tmp_path, _ = workdir
    write_catalogue(tmp_path / "cat.jsonl", 3)
    state = tmp_path / ".gcl-search"
    state.mkdir()
    (state / "ingest-p.checkpoint.json").write_text(
        json.dumps(
            {
                "version": 1,
                "fingerprint": {"catalogue": "other.jsonl"},
                "position": 5,
                "indexed": 5,
                "extra": {},
            }
        )
    )
    result = _ingest("--catalogue", "cat.jsonl", "--id-column", "id", "--index", "p")
    assert result.exit_code == 1 and "belongs to a different ingest" in result.stderr
    assert "--no-resume" in result.stderr
    again = _ingest("--catalogue", "cat.jsonl", "--id-column", "id", "--index", "p", "--no-resume")
    assert again.exit_code == 0


def test_store_and_url_together_is_a_usage_error(workdir):
    result = _ingest(
        "--catalogue", "x.jsonl", "--index", "p", "--store", "s", "--opensearch-url", "http://127.0.0.1:1"
    )
    assert result.exit_code == 2 and "not both" in result.stderr


def test_explicit_store_wins_over_the_environment_url(workdir):
    tmp_path, _ = workdir
    write_catalogue(tmp_path / "cat.jsonl", 2)
    result = _ingest(
        "--catalogue",
        "cat.jsonl",
        "--id-column",
        "id",
        "--index",
        "p",
        "--store",
        "s",
        env={"OPENSEARCH_URL": "http://127.0.0.1:1"},
    )
    assert result.exit_code == 0 and "into s/p" in result.stdout


def test_unreachable_cluster_is_a_clear_error_and_never_shows_credentials(workdir):
    tmp_path, _ = workdir
    write_catalogue(tmp_path / "cat.jsonl", 2)
    result = _ingest(
        "--catalogue",
        "cat.jsonl",
        "--id-column",
        "id",
        "--index",
        "p",
        "--opensearch-url",
        "http://admin:hunter2secret@127.0.0.1:1",
        env={"OPENSEARCH_API_KEY": None, "OPENSEARCH_PASSWORD": None},
    )
    assert result.exit_code == 1
    assert "cannot reach OpenSearch at http://***@127.0.0.1:1" in result.stderr
    assert "hunter2secret" not in result.output and "admin" not in result.output


def test_progress_bar_has_the_catalogue_total(workdir):
    tmp_path, _ = workdir
    write_catalogue(tmp_path / "cat.jsonl", 10)
    result = CliRunner().invoke(
        main,
        [
            "ingest",
            "-c",
            "cfg.toml",
            "--catalogue",
            "cat.jsonl",
            "--id-column",
            "id",
            "--store",
            "stores",
            "--index",
            "p",
            "--batch-size",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "10/10" in result.stderr
    limited = CliRunner().invoke(
        main,
        [
            "ingest",
            "-c",
            "cfg.toml",
            "--catalogue",
            "cat.jsonl",
            "--id-column",
            "id",
            "--store",
            "stores",
            "--index",
            "q",
            "--limit",
            "3",
        ],
    )
    assert limited.exit_code == 0 and "3/3" in limited.stderr

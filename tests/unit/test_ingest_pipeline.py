"""The ingest pipeline on the LocalStore with a keyword encoder: results, failures, resume, pipelining."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from gcl_search.errors import ConfigError, DimensionMismatch, StoreUnavailable
from gcl_search.ingest.checkpoint import Checkpoint, FailureLog
from gcl_search.ingest.pipeline import ingest
from gcl_search.ingest.read import read_for_config
from gcl_search.records import FailedDoc
from gcl_search.stores.base import AttributeField, DenseField, IndexLayout
from gcl_search.stores.local import LocalStore
from tests.fakes import KeywordEncoder, keyword_vector, write_catalogue
from tests.fakes import make_ingest_config as make_config


class Crash(Exception):
    pass


def _run(
    tmp_path,
    catalogue,
    encoder,
    *,
    batch_size=4,
    checkpoint=None,
    after_commit=None,
    config=None,
    store=None,
    layout=None,
):
    config = config or make_config()
    store = store or LocalStore(tmp_path / "store")
    records = read_for_config(catalogue, config, id_column="id")
    report = ingest(
        records,
        config,
        {"kw": encoder},
        store,
        batch_size=batch_size,
        failures_file=tmp_path / "failures.jsonl",
        checkpoint=checkpoint,
        progress=False,
        after_commit=after_commit,
        layout=layout,
    )
    return report, store


def _failures(tmp_path):
    path = tmp_path / "failures.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_ingest_writes_every_good_record_with_exact_vectors_texts_and_attributes(tmp_path):
    catalogue = write_catalogue(tmp_path / "cat.jsonl", 10)
    report, store = _run(tmp_path, catalogue, KeywordEncoder())
    assert (report.indexed, report.skipped, report.failed) == (10, 0, [])
    assert report.seconds > 0 and report.docs_per_second > 0
    assert store.count() == 10
    vectors = store.vectors(["p0", "p1"])
    np.testing.assert_allclose(vectors["p0"]["title"], keyword_vector("red usb cable 0"), atol=1e-6)
    np.testing.assert_allclose(vectors["p0"]["description"], keyword_vector("wireless mouse"), atol=1e-6)
    assert set(vectors["p1"]) == {"title"}  # empty description: the field is absent, not a zero vector
    assert store.texts(["p1"]) == {"p1": {"title": "black usb cable 1"}}
    assert store.attributes(["p3"]) == {"p3": {"price": 3.0}}
    assert _failures(tmp_path) == []


def test_per_record_failures_are_collected_written_and_the_rest_is_indexed(tmp_path):
    catalogue = write_catalogue(tmp_path / "cat.jsonl", 12, bad_every=5)  # lines 5 and 10 are malformed
    with catalogue.open("a") as handle:
        handle.write(json.dumps({"id": "p0", "title": "duplicate"}) + "\n")
        handle.write(json.dumps({"id": "z", "desc": "wireless"}) + "\n")  # title missing
    report, store = _run(tmp_path, catalogue, KeywordEncoder())
    assert report.indexed == 11 and store.count() == 11
    stages = [(f.stage, f.location.rsplit(":", 1)[1]) for f in report.failed]
    assert stages == [("read", "5"), ("read", "10"), ("validate", "13")]
    assert "duplicate id 'p0'" in report.failed[2].reason
    lines = _failures(tmp_path)
    assert [(line["stage"], line["doc_id"], line["position"]) for line in lines] == [
        ("read", None, 4),
        ("read", None, 9),
        ("validate", "p0", 12),
    ]
    assert all(line["reason"] for line in lines)


def test_a_record_whose_present_fields_all_weigh_zero_is_indexed(tmp_path):
    # weight 0 keeps a field indexed (config.FieldSpec): such a record is searchable by that field
    catalogue = tmp_path / "cat.jsonl"
    catalogue.write_text(json.dumps({"id": "z", "title": "", "desc": "wireless mouse"}) + "\n")
    report, store = _run(tmp_path, catalogue, KeywordEncoder(), config=make_config(description_weight=0.0))
    assert (report.indexed, report.failed) == (1, []) and store.count() == 1
    np.testing.assert_allclose(
        store.vectors(["z"])["z"]["description"], keyword_vector("wireless mouse"), atol=1e-6
    )


def test_store_rejections_are_write_failures_with_location(tmp_path):
    catalogue = tmp_path / "cat.jsonl"
    catalogue.write_text(
        json.dumps({"id": "a", "title": "usb", "desc": "", "price": 1.5})
        + "\n"
        + json.dumps({"id": "b", "title": "hdmi", "price": "cheap"})
        + "\n"
    )
    layout = IndexLayout(
        (DenseField("title", 8, "kw"), DenseField("description", 8, "kw")),
        ("title",),
        (AttributeField("price", "float"),),
    )
    report, store = _run(tmp_path, catalogue, KeywordEncoder(), layout=layout)
    assert report.indexed == 1 and store.count() == 1
    (failed,) = report.failed
    assert (failed.doc_id, failed.stage, failed.location) == ("b", "write", f"{catalogue}:2")
    assert "price" in failed.reason


def test_existing_index_with_other_dimensions_is_refused_before_encoding(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.create(IndexLayout((DenseField("title", 16, "kw"), DenseField("description", 8, "kw"))))
    encoder = KeywordEncoder()
    with pytest.raises(DimensionMismatch, match="'title' has dimension 16 in the index but 8"):
        _run(tmp_path, write_catalogue(tmp_path / "c.jsonl", 3), encoder, store=store)
    assert encoder.calls == 0


def test_crash_after_two_batches_then_resume_without_re_encoding(tmp_path):
    catalogue = write_catalogue(tmp_path / "cat.jsonl", 22, bad_every=7)  # 3 malformed lines: 7, 14, 21
    fingerprint = {"catalogue": str(catalogue), "index": "store"}

    def crash_after_two(position):
        if position == 8:
            raise Crash

    first = KeywordEncoder()
    with pytest.raises(Crash):
        _run(
            tmp_path,
            catalogue,
            first,
            checkpoint=Checkpoint.open(tmp_path / "cp.json", fingerprint),
            after_commit=crash_after_two,
        )
    assert json.loads((tmp_path / "cp.json").read_text())["position"] == 8
    store = LocalStore(tmp_path / "store")
    written_before = store.count()
    assert written_before == 7  # items 0-7 minus the malformed line 7

    second = KeywordEncoder()
    report, store = _run(
        tmp_path, catalogue, second, checkpoint=Checkpoint.open(tmp_path / "cp.json", fingerprint)
    )
    assert report.skipped == 8 and report.indexed == 22 - 3 - written_before
    assert store.count() == 19
    titles = [t for t in second.encoded if "usb cable" in t]
    assert sorted(int(t.rsplit(" ", 1)[1]) for t in titles) == [i for i in range(8, 22) if i % 7 != 6]
    assert [f.location.rsplit(":", 1)[1] for f in report.failed] == ["7", "14", "21"]
    assert [line["position"] for line in _failures(tmp_path)] == [6, 13, 20]  # no duplicate lines
    assert not (tmp_path / "cp.json").exists()  # finished: the checkpoint is gone


def test_failure_log_drops_lines_a_crash_left_past_the_checkpoint(tmp_path):
    path = tmp_path / "f.jsonl"
    log = FailureLog(path)
    log.append([(1, FailedDoc("a", "c:2", "read", "bad")), (5, FailedDoc("b", "c:6", "encode", "worse"))])
    resumed = FailureLog(path, keep_before=3)
    assert [f.doc_id for f in resumed.earlier] == ["a"]
    assert [json.loads(line)["doc_id"] for line in path.read_text().splitlines()] == ["a"]
    assert FailureLog(path).earlier == [] and path.read_text() == ""


def test_checkpoint_refuses_a_different_run_and_no_resume_starts_over(tmp_path):
    point = Checkpoint.open(tmp_path / "cp.json", {"catalogue": "a.jsonl", "size": 10})
    point.extra["index"] = "products-v2"
    point.commit(position=40, indexed=38)
    again = Checkpoint.open(tmp_path / "cp.json", {"catalogue": "a.jsonl", "size": 10})
    assert (again.position, again.indexed, again.extra) == (40, 38, {"index": "products-v2"})
    with pytest.raises(ConfigError, match=r"different ingest \(size changed\).*--no-resume"):
        Checkpoint.open(tmp_path / "cp.json", {"catalogue": "a.jsonl", "size": 11})
    assert Checkpoint.open(tmp_path / "cp.json", {"size": 11}, resume=False).position == 0
    (tmp_path / "cp.json").write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable ingest checkpoint"):
        Checkpoint.open(tmp_path / "cp.json", {})


def test_store_outage_keeps_committed_batches_and_resume_finishes(tmp_path):
    catalogue = write_catalogue(tmp_path / "cat.jsonl", 12)

    class FlakyStore(LocalStore):
        calls = 0

        def upsert(self, docs):
            FlakyStore.calls += 1
            if FlakyStore.calls == 2:
                raise StoreUnavailable("cluster at http://node:9200 unreachable")
            return super().upsert(docs)

    fingerprint = {"c": "cat"}
    with pytest.raises(StoreUnavailable):
        _run(
            tmp_path,
            catalogue,
            KeywordEncoder(),
            store=FlakyStore(tmp_path / "store"),
            checkpoint=Checkpoint.open(tmp_path / "cp.json", fingerprint),
        )
    assert LocalStore(tmp_path / "store").count() == 4
    report, store = _run(
        tmp_path, catalogue, KeywordEncoder(), checkpoint=Checkpoint.open(tmp_path / "cp.json", fingerprint)
    )
    assert (report.skipped, report.indexed, store.count()) == (4, 8, 12)


def test_writing_overlaps_encoding_of_the_next_batch(tmp_path):
    """The writer of batch k blocks until batch k+1 starts encoding: a serial pipeline would time out."""
    next_encode_started = [threading.Event() for _ in range(8)]
    overlapped = []
    encoder = KeywordEncoder()
    encoder.on_encode = lambda call: next_encode_started[call].set()

    class WaitingStore(LocalStore):
        writes = 0

        def upsert(self, docs):
            WaitingStore.writes += 1
            if WaitingStore.writes < 3:  # batches 1 and 2 of 3
                overlapped.append(next_encode_started[WaitingStore.writes].wait(timeout=5))
            return super().upsert(docs)

    report, _ = _run(
        tmp_path, write_catalogue(tmp_path / "c.jsonl", 12), encoder, store=WaitingStore(tmp_path / "store")
    )
    assert overlapped == [True, True] and report.indexed == 12


def test_reader_errors_mid_stream_propagate(tmp_path):
    config = make_config()

    def records():
        yield from read_for_config(write_catalogue(tmp_path / "c.jsonl", 3), config, id_column="id")
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        ingest(records(), config, {"kw": KeywordEncoder()}, LocalStore(tmp_path / "s"), progress=False)


@pytest.mark.slow
def test_the_library_example_in_docs_runs(tmp_path, monkeypatch):
    """docs/ingest.md's Python sample, as written (real all-MiniLM-L6-v2, 200 Icecat products)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sample = re.search(r"```python\n(.*?)```", (root / "docs" / "ingest.md").read_text(), re.S).group(1)
    monkeypatch.chdir(root)
    renames = (("gcl-store/products", "store"), ("failures.jsonl", "f.jsonl"), ("cp.json", "cp.json"))
    for name, target in renames:
        sample = sample.replace(f'"{name}"', repr(str(tmp_path / target)))
    namespace: dict = {}
    exec(compile(sample, "docs/ingest.md", "exec"), namespace)
    assert namespace["report"].indexed == 200 and LocalStore(tmp_path / "store").count() == 200


def test_bm25_only_text_fields_come_from_catalogue_columns(tmp_path):
    """[index] text_fields may name a column that is not embedded: it is indexed for BM25 (and searchable in
    the catch-all field) from the record's column, with the index's analyzer."""
    import dataclasses

    from gcl_search.config import IndexSpec

    catalogue = tmp_path / "cat.jsonl"
    catalogue.write_text(
        "\n".join(
            json.dumps(
                {"id": f"p{i}", "title": f"usb cable {i}", "desc": "", "model": ("AB-12", "XY-9")[i % 2]}
            )
            for i in range(4)
        )
        + "\n"
    )
    config = dataclasses.replace(make_config(), index=IndexSpec(text_fields=("title", "model")))
    _, store = _run(tmp_path, catalogue, KeywordEncoder(), config=config)
    layout = store.layout()
    assert layout.text_fields == ("title", "model")
    assert (layout.options.analyzer, layout.options.catch_all) == ("english", True)
    assert store.texts(["p1"]) == {"p1": {"title": "usb cable 1", "model": "XY-9"}}
    assert [d for d, _ in store.lexical("xy 9 cables", None, 5, mode="combined")][:2] == ["p1", "p3"]
    assert [d for d, _ in store.lexical("xy", ("model",), 5)] == ["p1", "p3"]

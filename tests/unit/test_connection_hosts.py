"""Several comma-separated node URLs of one cluster: one client over all of them, credentials redacted."""

from __future__ import annotations

import pytest

from gcl_search.config import IndexSpec
from gcl_search.errors import ConfigError


def test_comma_separated_urls_give_one_client_over_every_node():
    pytest.importorskip("opensearchpy")
    from gcl_search.stores.connection import connect

    client, where, secrets = connect("https://u:pw@a.example:9201, https://b.example:9202,https://c.example")
    conns = client.transport.connection_pool.connections
    assert sorted((c.host, c.port) for c in conns) == [
        ("https://a.example:9201", 9201),
        ("https://b.example:9202", 9202),
        ("https://c.example:443", 443),
    ]
    assert where == "https://***@a.example:9201,https://b.example:9202,https://c.example"
    assert secrets == ["pw"] and all(c.use_ssl for c in conns)
    with pytest.raises(ConfigError, match="mix http and https"):
        connect("http://a:9200,https://b:9200")
    with pytest.raises(ConfigError, match="empty"):
        connect(" , ")


def test_index_spec_shards_and_replicas_are_checked():
    assert (IndexSpec().shards, IndexSpec().replicas) == (1, 0)
    assert IndexSpec(shards=3, replicas=1).replicas == 1
    with pytest.raises(ConfigError, match="shards"):
        IndexSpec(shards=0)
    with pytest.raises(ConfigError, match="replicas"):
        IndexSpec(replicas=-1)


def test_a_search_answered_by_fewer_than_all_shards_is_retried_not_returned():
    pytest.importorskip("opensearchpy")
    from gcl_search.errors import StoreUnavailable
    from gcl_search.stores.opensearch import OpenSearchStore

    hit = {"_id": "a", "_score": 1.5}
    partial = {"_shards": {"total": 3, "successful": 2, "failed": 1}, "hits": {"hits": []}}
    full = {"_shards": {"total": 3, "successful": 3, "failed": 0}, "hits": {"hits": [hit]}}

    class Client:
        def __init__(self, answers):
            self.answers, self.calls = answers, 0

        def search(self, index, body):
            self.calls += 1
            return self.answers.pop(0)

    store = OpenSearchStore(Client([partial, full]), "idx")
    assert store._read(store.client.search, index="idx", body={})["hits"]["hits"] == [hit]
    assert store.client.calls == 2
    store = OpenSearchStore(Client([partial] * 3), "idx")
    with pytest.raises(StoreUnavailable, match="fewer than all shards"):
        store._read(store.client.search, index="idx", body={})
    assert store.client.calls == store.read_attempts == 3

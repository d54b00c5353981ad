"""Copy a local store into an Elasticsearch index (vectors, texts, attributes, the same layout), so that the
whole catalogue can be searched on Elasticsearch without encoding it again (~6 min of both cores):

    python benchmarks/es_from_local.py --elasticsearch-url http://127.0.0.1:9400 \
        --store /work/stores/icecat-demo --index icecat-demo-full
    gcl-search evaluate -j examples/icecat/judgments.csv -c configs/icecat-demo.toml \
        --index icecat-demo-full \
        --elasticsearch-url http://127.0.0.1:9400 --live "hybrid=--lexical" ...
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gcl_search.records import Document  # noqa: E402
from gcl_search.stores.elasticsearch import ElasticsearchStore  # noqa: E402
from gcl_search.stores.local import LocalStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elasticsearch-url", required=True)
    parser.add_argument("--store", type=Path, required=True, help="a local store directory")
    parser.add_argument("--index", required=True)
    parser.add_argument("--index-type", default="hnsw", choices=("hnsw", "int8_hnsw"))
    args = parser.parse_args()
    local = LocalStore(args.store)
    remote = ElasticsearchStore(args.elasticsearch_url, args.index, timeout=300, index_type=args.index_type)
    remote.drop()
    remote.create(local.layout())
    ids, start = list(local._loaded().ids), time.perf_counter()
    with remote.bulk_load():
        for lo in range(0, len(ids), 1000):
            batch = ids[lo : lo + 1000]
            vectors, texts, attrs = local.vectors(batch), local.texts(batch), local.attributes(batch)
            report = remote.upsert(Document(d, vectors[d], texts.get(d, {}), attrs.get(d, {})) for d in batch)
            assert not report.failed, report.failed[:3]
    remote.client.options(request_timeout=3600).indices.forcemerge(index=args.index, max_num_segments=1)
    print(f"{remote.count()} documents into {remote.name} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

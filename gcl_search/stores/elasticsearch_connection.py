"""Connecting to Elasticsearch 8.x: URL, basic auth or API key from arguments or the environment; TLS.

The same rules as `gcl_search.stores.connection` (OpenSearch), with Elasticsearch's variables:

    ELASTICSEARCH_URL        e.g. https://search.example.com:9200 (user:password@ in the URL also works);
                             several comma-separated URLs of one cluster's nodes
    ELASTICSEARCH_USERNAME   basic auth user       ELASTICSEARCH_PASSWORD   basic auth password
    ELASTICSEARCH_API_KEY    API key (base64 `id:key`, as Kibana shows it), instead of basic auth
    ELASTICSEARCH_CA_CERTS   CA bundle file for TLS verification

Credentials never appear in messages: the URL is redacted (`redact_url`) and client errors are scrubbed.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlunsplit

from gcl_search.errors import ConfigError, StoreUnavailable
from gcl_search.stores.connection import redact_url, resolve_target, scrub

# What `store_target` prefixes an Elasticsearch URL with, so that it travels through the commands' one
# `opensearch_url` slot (and an ingest checkpoint) and `open_cluster_store` can tell the engines apart.
SCHEME_PREFIX = "elasticsearch+"


def tag_url(url: str) -> str:
    """`url` marked as an Elasticsearch URL (idempotent)."""
    return url if is_tagged(url) else SCHEME_PREFIX + url


def is_tagged(url: str | None) -> bool:
    """Whether `url` came from `--elasticsearch-url` / $ELASTICSEARCH_URL (`tag_url`)."""
    return bool(url) and str(url).startswith(SCHEME_PREFIX)


def untag_url(url: str) -> str:
    """`url` without the `tag_url` mark."""
    return url[len(SCHEME_PREFIX) :] if is_tagged(url) else url


def connect(
    url: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    ca_certs: str | None = None,
    verify_certs: bool = True,
    timeout: float = 120.0,
    **client_kwargs: Any,
) -> tuple[Any, str, list[str]]:
    """Build an `elasticsearch.Elasticsearch` client (no request is sent; see `check_connection`).

    Args:
        url: cluster URL(s), comma-separated (default $ELASTICSEARCH_URL, else http://127.0.0.1:9200).
        username, password: basic auth (default: the URL's userinfo, then the environment).
        api_key: API key (default $ELASTICSEARCH_API_KEY); not combinable with basic auth.
        ca_certs: CA bundle for https (default $ELASTICSEARCH_CA_CERTS; else the system store).
        verify_certs: verify TLS certificates (turn off only for a throwaway cluster).
        timeout: request timeout in seconds.
        client_kwargs: passed to `Elasticsearch(...)` (max_retries, retry_on_timeout, ...).

    Returns:
        (client, redacted URL, secrets to scrub from messages).

    Raises:
        ConfigError: the client is not installed, the URL is empty or mixes schemes, or both basic auth and
            an API key are given.
    """
    try:
        from elasticsearch import Elasticsearch
    except ImportError as err:
        raise ConfigError(
            f"Elasticsearch support needs the elasticsearch 8.x client ({err}): "
            "pip install 'gcl-search[elasticsearch]'"
        ) from err
    url = untag_url(url or os.environ.get("ELASTICSEARCH_URL") or "http://127.0.0.1:9200")
    target = resolve_target(url, "Elasticsearch", "ELASTICSEARCH", username, password, api_key, ca_certs)
    default_port = 443 if target.parts[0].scheme == "https" else 9200
    # The client reads credentials out of a URL itself; pass them explicitly and the hosts without them.
    hosts = [
        urlunsplit(
            (
                p.scheme or "http",
                f"{p.hostname or '127.0.0.1'}:{p.port or default_port}",
                p.path.rstrip("/"),
                "",
                "",
            )
        )
        for p in target.parts
    ]
    kwargs: dict[str, Any] = {
        "request_timeout": timeout,
        "verify_certs": verify_certs,
        **client_kwargs,
        **target.tls_kwargs(verify_certs),
    }
    if target.username:
        kwargs["basic_auth"] = (target.username, target.password or "")
    if target.api_key:
        kwargs["api_key"] = target.api_key
    return Elasticsearch(hosts, **kwargs), redact_url(url), target.secrets


def server_version(client: Any) -> str:
    """The version of a node of the cluster (`GET /_nodes/_local`; some distributions answer `GET /` with
    405)."""
    nodes = client.nodes.info(node_id="_local", filter_path="nodes.*.version")["nodes"]
    return str(next(iter(nodes.values()))["version"])


def check_connection(client: Any, where: str, secrets: list[str]) -> str:
    """Ask the cluster for its version; turn an unreachable cluster or refused credentials into
    StoreUnavailable, and refuse a server that is not Elasticsearch 8.x.

    Returns:
        The server version.
    """
    from elasticsearch import ApiError, AuthenticationException, AuthorizationException, TransportError

    try:
        version = server_version(client)
    except (AuthenticationException, AuthorizationException) as err:
        raise StoreUnavailable(
            f"Elasticsearch at {where} refused the credentials (HTTP {err.meta.status}); "
            "check ELASTICSEARCH_USERNAME/PASSWORD or ELASTICSEARCH_API_KEY"
        ) from err
    except ApiError as err:
        raise StoreUnavailable(
            f"Elasticsearch at {where} answered HTTP {err.meta.status} to GET /_nodes; check the URL"
        ) from err
    except TransportError as err:  # connection refused, TLS, timeouts
        raise StoreUnavailable(
            f"cannot reach Elasticsearch at {where} ({scrub(str(err)[:200], secrets)}); "
            "check the URL, that the cluster is up, and the TLS settings"
        ) from err
    if version.split(".")[0] != "8":
        raise StoreUnavailable(
            f"Elasticsearch at {where} is version {version}; gcl-search supports 8.x "
            "(the elasticsearch client is pinned to 8)"
        )
    return version

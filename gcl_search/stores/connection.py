"""Connecting to OpenSearch: URL, basic auth or API key from arguments or the environment, TLS verified.
(`resolve_target`, `redact_url` and `scrub` serve `elasticsearch_connection` as well.)

Credentials are never printed: every message names the URL through `redact_url`, and `scrub` removes any
secret from text that came from the client library. Environment variables (used when the argument is None):

    OPENSEARCH_URL          e.g. https://search.example.com:9200 (user:password@ in the URL also works);
                            several comma-separated URLs of one cluster's nodes spread requests over them
                            and fail over from a node that stops answering
    OPENSEARCH_USERNAME     basic auth user       OPENSEARCH_PASSWORD   basic auth password
    OPENSEARCH_API_KEY      API key (sent as `Authorization: ApiKey <key>`), instead of basic auth
    OPENSEARCH_CA_CERTS     CA bundle file for TLS verification
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from gcl_search.errors import ConfigError, StoreUnavailable


def redact_url(url: str) -> str:
    """The URL (or comma-separated URLs) with any `user:password@` replaced by `***@`."""
    if "," in url:
        return ",".join(redact_url(u) for u in split_urls(url))
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def split_urls(url: str) -> list[str]:
    """The URLs of a comma-separated list (one URL: a list of one), blanks dropped."""
    return [u.strip() for u in url.split(",") if u.strip()]


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every non-empty secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class ClusterTarget:
    """The parsed URLs of one cluster's nodes and the credentials to send them."""

    parts: list[SplitResult]
    username: str | None
    password: str | None
    api_key: str | None
    ca_certs: str | None

    @property
    def secrets(self) -> list[str]:
        """What to scrub from messages."""
        return [s for s in (self.password, self.api_key) if s]

    def tls_kwargs(self, verify_certs: bool) -> dict[str, Any]:
        """The client's TLS arguments (both clients name them alike)."""
        if self.parts[0].scheme != "https":
            return {}
        if not verify_certs:
            return {"ssl_show_warn": False}
        return {"ca_certs": self.ca_certs} if self.ca_certs else {}


def resolve_target(
    url: str,
    engine: str,
    env_prefix: str,
    username: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    ca_certs: str | None = None,
) -> ClusterTarget:
    """Parse `url` (one or comma-separated) and pick the credentials: the arguments, then the URL's userinfo,
    then $<env_prefix>_USERNAME / _PASSWORD / _API_KEY / _CA_CERTS.

    Raises:
        ConfigError: (naming `engine`) the URL is empty or mixes schemes, or both basic auth and an API key
            are given.
    """
    parts = [urlsplit(u) for u in split_urls(url)]
    if not parts:
        raise ConfigError(f"the {engine} URL is empty")
    if len({p.scheme for p in parts}) > 1:
        raise ConfigError(f"the {engine} URLs {redact_url(url)} mix http and https; use one scheme")
    userinfo = next((p for p in parts if p.username is not None), parts[0])
    username = username or userinfo.username or os.environ.get(f"{env_prefix}_USERNAME")
    password = password or userinfo.password or os.environ.get(f"{env_prefix}_PASSWORD")
    api_key = api_key or os.environ.get(f"{env_prefix}_API_KEY")
    ca_certs = ca_certs or os.environ.get(f"{env_prefix}_CA_CERTS")
    if api_key and (username or password):
        raise ConfigError(f"both basic auth and an API key are set for {redact_url(url)}; use one of them")
    return ClusterTarget(parts, username, password, api_key, ca_certs)


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
    """Build an `opensearchpy.OpenSearch` client (no request is sent; see `check_connection`).

    Args:
        url: cluster URL, or comma-separated URLs of several nodes of one cluster (default $OPENSEARCH_URL,
            else http://127.0.0.1:9200). With several, opensearch-py sends requests round-robin and, on a
            connection error, marks that node dead for a while and retries the request on another
            (`max_retries`, default 3).
        username, password: basic auth (default from the URL's userinfo, then the environment).
        api_key: API key (default $OPENSEARCH_API_KEY); not combinable with basic auth.
        ca_certs: CA bundle for https (default $OPENSEARCH_CA_CERTS; else the system store).
        verify_certs: verify TLS certificates (on by default; turn off only for a throwaway cluster).
        timeout: request timeout in seconds (vector bulks are large).
        client_kwargs: passed to `OpenSearch(...)` (a `serializer` replaces `VectorJSONSerializer`).

    Returns:
        (client, redacted URL, secrets to scrub from messages).

    Raises:
        ConfigError: opensearch-py is not installed, or both basic auth and an API key are given.
    """
    try:
        from opensearchpy import OpenSearch

        from gcl_search.stores.serializer import VectorJSONSerializer
    except ImportError as err:
        raise ConfigError(
            f"OpenSearch support needs opensearch-py and orjson ({err}): pip install 'gcl-search[opensearch]'"
        ) from err
    url = url or os.environ.get("OPENSEARCH_URL") or "http://127.0.0.1:9200"
    target = resolve_target(url, "OpenSearch", "OPENSEARCH", username, password, api_key, ca_certs)
    parts = target.parts[0]
    default_port = 443 if parts.scheme == "https" else 9200
    kwargs: dict[str, Any] = {
        "hosts": [
            {
                "host": p.hostname or "127.0.0.1",
                "port": p.port or default_port,
                "url_prefix": p.path.rstrip("/"),
            }
            for p in target.parts
        ],
        "use_ssl": parts.scheme == "https",
        "verify_certs": verify_certs,
        "timeout": timeout,
        "http_compress": False,
        "serializer": VectorJSONSerializer(),
        **client_kwargs,
        **target.tls_kwargs(verify_certs),
    }
    if target.username:
        kwargs["http_auth"] = (target.username, target.password or "")
    if target.api_key:
        kwargs["headers"] = {"Authorization": f"ApiKey {target.api_key}"}
    return OpenSearch(**kwargs), redact_url(url), target.secrets


def check_connection(client: Any, where: str, secrets: list[str]) -> None:
    """Send `GET /`; turn an unreachable cluster or refused credentials into StoreUnavailable.

    Raises:
        StoreUnavailable: naming the redacted URL and what to check.
    """
    from opensearchpy import exceptions as exc

    try:
        client.info()
    except (exc.AuthenticationException, exc.AuthorizationException) as err:
        raise StoreUnavailable(
            f"OpenSearch at {where} refused the credentials (HTTP {err.status_code}); "
            "check OPENSEARCH_USERNAME/OPENSEARCH_PASSWORD or OPENSEARCH_API_KEY"
        ) from err
    except exc.ConnectionError as err:
        raise StoreUnavailable(
            f"cannot reach OpenSearch at {where} ({scrub(_short(err), secrets)}); "
            "check the URL, that the cluster is up, and the TLS settings"
        ) from err
    except exc.TransportError as err:
        raise StoreUnavailable(
            f"OpenSearch at {where} answered HTTP {err.status_code} to GET /; check the URL"
        ) from err


def _short(err: Exception) -> str:
    text = str(err)
    return text if len(text) <= 200 else text[:200] + "..."

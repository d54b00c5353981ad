"""OpenSearchConnection: talking to one OpenSearch index with bounded retries and one-line errors.

The bulk writes, read retries and error items are `cluster.ClusterConnection`'s (shared with Elasticsearch);
this names opensearch-py's pieces. Every call goes through `_call` (opensearch-py exceptions become
`IndexNotFound` / `StoreUnavailable`, with credentials scrubbed from the messages).
"""

from __future__ import annotations

from typing import Any

from opensearchpy import exceptions as exc
from opensearchpy import helpers

from gcl_search.errors import StoreUnavailable
from gcl_search.stores.cluster import ClusterConnection
from gcl_search.stores.connection import check_connection, connect, scrub


class OpenSearchConnection(ClusterConnection):
    """A client, its redacted URL and secrets, one index name, and the retry and bulk settings.

    Args: as for `ClusterConnection`; client_or_url is an `opensearchpy.OpenSearch` client, or a URL (None:
    $OPENSEARCH_URL) for `connection.connect`.
    """

    engine_label = "OpenSearch"
    bulk_helpers = helpers
    _connect = staticmethod(connect)
    _check_connection = staticmethod(check_connection)

    def _call(self, method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except exc.NotFoundError as err:
            raise self._not_found() from err
        except exc.ConnectionError as err:
            reason = scrub(str(err)[:200], self._secrets)
            raise StoreUnavailable(
                f"cannot reach OpenSearch at {self.url} ({reason}); check that the cluster is up"
            ) from err
        except (exc.AuthenticationException, exc.AuthorizationException) as err:
            raise StoreUnavailable(
                f"OpenSearch at {self.url} refused the credentials (HTTP {err.status_code})"
            ) from err

"""`--elasticsearch-url` / $ELASTICSEARCH_URL follow the same rule as OpenSearch's URL: an explicit --store
wins over a URL from the environment, --store with an explicit URL is a usage error, and so are both
cluster flags; with both URLs only in the environment, OpenSearch is used (as before Elasticsearch)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from test_cli_search import env  # noqa: F401 - env is the fixture

from gcl_search.cli import main
from gcl_search.cli.options import connection_options, store_target
from gcl_search.stores.elasticsearch_connection import is_tagged, tag_url, untag_url

DEAD = "http://127.0.0.1:1"  # nothing listens there: reaching for it would fail the command


@click.command()
@connection_options
def probe(store_dir, opensearch_url, ca_certs, insecure, timeout):
    click.echo(repr(store_target(store_dir, opensearch_url)))


@pytest.mark.parametrize(
    "args,environ,expected",
    [
        (["--elasticsearch-url", "http://e:9"], {}, "elasticsearch+http://e:9"),
        ([], {"ELASTICSEARCH_URL": "http://e:9"}, "elasticsearch+http://e:9"),
        ([], {"ELASTICSEARCH_URL": "http://e:9", "OPENSEARCH_URL": "http://o:9"}, "'http://o:9'"),
        (["--elasticsearch-url", "http://e:9"], {"OPENSEARCH_URL": "http://o:9"}, "elasticsearch+http://e:9"),
        (["--opensearch-url", "http://o:9"], {"ELASTICSEARCH_URL": "http://e:9"}, "'http://o:9'"),
        (["--store", "s"], {"ELASTICSEARCH_URL": "http://e:9"}, "None"),
    ],
)
def test_precedence(args, environ, expected, monkeypatch):
    for name in ("ELASTICSEARCH_URL", "OPENSEARCH_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(probe, args, env=environ)
    assert result.exit_code == 0, result.output
    assert expected in result.output


@pytest.mark.parametrize(
    "args",
    [["--store", "s", "--elasticsearch-url", DEAD], ["--opensearch-url", DEAD, "--elasticsearch-url", DEAD]],
)
def test_two_explicit_targets_are_a_usage_error(args):
    result = CliRunner().invoke(probe, args)
    assert result.exit_code == 2 and "not both" in result.output


def test_explicit_store_beats_the_environment_url(env, monkeypatch):  # noqa: F811
    _, base = env
    monkeypatch.setenv("ELASTICSEARCH_URL", DEAD)
    result = CliRunner().invoke(main, ["search", "--text", "usb cable", "-k", "3", *base])
    assert result.exit_code == 0, result.output


def test_every_store_command_takes_the_flag():
    for command in (["search"], ["ingest"], ["tune"], ["evaluate"], ["triples"], ["index", "list"]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert "--elasticsearch-url" in result.output, command


def test_tagging_round_trip():
    url = "https://u:p@h:9200"
    assert is_tagged(tag_url(url)) and tag_url(tag_url(url)) == tag_url(url)
    assert untag_url(tag_url(url)) == url and not is_tagged(url) and not is_tagged(None)

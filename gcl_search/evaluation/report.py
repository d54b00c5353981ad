"""Render results: an aligned table (default), JSON, CSV or Markdown, always with the metric legend.

`render(reports, comparison, fmt, per_query)` takes one or more named `Report`s and, for two or more, the
`Comparison` holding the paired tests. The table and Markdown forms print means with 95% CIs, then the tests,
then the legend and settings; JSON carries everything, including per-query values when asked; CSV is one flat
table (means, or per-query values with --per-query) so it loads straight into a dataframe.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping

from gcl_search.evaluation.compare import Comparison
from gcl_search.evaluation.evaluate import Report

FORMATS = ("table", "json", "csv", "markdown")


def render(
    reports: Mapping[str, Report],
    comparison: Comparison | None = None,
    fmt: str = "table",
    per_query: bool = False,
) -> str:
    """Format results as text for stdout.

    Args:
        reports: run name -> Report (all evaluated with the same settings).
        comparison: the paired tests, when there are two or more runs.
        fmt: "table", "json", "csv" or "markdown".
        per_query: include per-query values (table/markdown: one table per run; csv: long format).
    """
    if fmt == "json":
        body = _finite(_as_json(reports, comparison, per_query))
        return json.dumps(body, indent=2, allow_nan=False) + "\n"
    if fmt == "csv":
        return _csv(reports, comparison, per_query)
    markdown = fmt == "markdown"
    blocks = [_summary(reports)]
    blocks.append(_grid(_means_rows(reports), markdown))
    if comparison is not None:
        blocks.append(_test_heading(comparison))
        blocks.append(_grid(_test_rows(comparison), markdown))
    if per_query:
        for name, report in reports.items():
            blocks.append(f"per query: {name}")
            blocks.append(
                _grid(
                    [["query_id", *report.metrics]]
                    + [[q, *map(_num, row)] for q, row in zip(report.query_ids, report.scores)],
                    markdown,
                )
            )
    blocks.append(_legend(next(iter(reports.values()))))
    return "\n\n".join(blocks) + "\n"


def _num(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"


def _p(value: float) -> str:
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _summary(reports: Mapping[str, Report]) -> str:
    lines = []
    for name, r in reports.items():
        line = f"{name}: {len(r.query_ids)} queries scored"
        if r.skipped:
            line += f"; {len(r.skipped)} skipped (no document with grade >= 1)"
        if r.missing:
            line += f"; {len(r.missing)} judged queries absent from the run ({r.settings['missing_queries']})"
        if r.ignored:
            line += f"; {len(r.ignored)} run queries without judgments ignored"
        lines.append(line)
    return "\n".join(lines)


def _means_rows(reports: Mapping[str, Report]) -> list[list[str]]:
    names = list(reports)
    header = ["metric"] + [h for n in names for h in (n, "95% CI")]
    rows = [header]
    for metric in reports[names[0]].metrics:
        row = [metric]
        for name in names:
            low, high = reports[name].ci[metric]
            row += [_num(reports[name].means[metric]), f"[{_num(low)}, {_num(high)}]"]
        rows.append(row)
    return rows


def _test_heading(comparison: Comparison) -> str:
    s = comparison.settings
    return (
        f"paired tests vs {comparison.baseline} ({', '.join(s['tests'])}, {s['sided']}, "
        f"{s['n_resamples']} resamples, seed {s['seed']}; p adjusted: {s['correction']}; "
        f"* = adjusted p < {s['alpha']})"
    )


def _test_rows(comparison: Comparison) -> list[list[str]]:
    rows = [["metric", "run", "delta", "test", "p", "p adjusted", ""]]
    for t in comparison.tests:
        rows.append(
            [
                t.metric,
                t.run,
                f"{t.delta:+.4f}",
                t.test,
                _p(t.p_value),
                _p(t.p_adjusted),
                "*" if t.significant else "",
            ]
        )
    return rows


def _legend(report: Report) -> str:
    s = report.settings
    lines = ["legend:"] + [f"  {m}: {text}" for m, text in report.legend.items()]
    lines.append(
        f"settings: ties {s['ties']}; relevant = {s['relevant']}; unjudged = {s['unjudged']}; "
        f"condensed (judged-only) = {'yes' if s['condensed'] else 'no'}; no-relevant queries: "
        f"{s['no_relevant']}; missing queries: {s['missing_queries']}; mean +- 95% CI (Student t)"
    )
    return "\n".join(lines)


def _grid(rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
        return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows[1:]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _csv(reports: Mapping[str, Report], comparison: Comparison | None, per_query: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if per_query:
        writer.writerow(["run", "query_id", "metric", "value"])
        for name, r in reports.items():
            for q, row in zip(r.query_ids, r.scores):
                writer.writerows([name, q, m, repr(float(v))] for m, v in zip(r.metrics, row))
        return out.getvalue()
    tests = {(t.run, t.metric, t.test): t for t in (comparison.tests if comparison else ())}
    names = sorted({t.test for t in tests.values()})
    writer.writerow(
        ["run", "metric", "mean", "ci_low", "ci_high", "n_queries", "delta"]
        + [f"p_{n}" for n in names]
        + [f"p_adjusted_{n}" for n in names]
    )
    for name, r in reports.items():
        for m in r.metrics:
            found = [tests.get((name, m, n)) for n in names]
            delta = next((f"{t.delta!r}" for t in found if t), "")
            writer.writerow(
                [name, m, repr(r.means[m]), *map(repr, r.ci[m]), len(r.query_ids), delta]
                + [repr(t.p_value) if t else "" for t in found]
                + [repr(t.p_adjusted) if t else "" for t in found]
            )
    return out.getvalue()


def _as_json(reports: Mapping[str, Report], comparison: Comparison | None, per_query: bool) -> dict:
    first = next(iter(reports.values()))
    runs = {}
    for name, r in reports.items():
        entry = {
            "n_queries": len(r.query_ids),
            "means": r.means,
            "ci95": {m: list(v) for m, v in r.ci.items()},
            "skipped": list(r.skipped),
            "missing": list(r.missing),
            "ignored": list(r.ignored),
        }
        if per_query:
            entry["per_query"] = r.per_query
        runs[name] = entry
    body = {"metrics": list(first.metrics), "legend": first.legend, "settings": first.settings, "runs": runs}
    if comparison is not None:
        body["comparison"] = {
            "baseline": comparison.baseline,
            "settings": comparison.settings,
            "tests": [t.__dict__ for t in comparison.tests],
        }
    return body


def _finite(value: object) -> object:
    """JSON has no NaN: undefined values (a CI over one query, a mean over none) become null."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value

"""Agreement with independent implementations on random runs (no ties, so tie-breaking cannot differ).

pytrec_eval (trec_eval) and ranx cover nDCG, MAP, MRR, P, R and (ranx) unnormalised RBP. ERR, judged@k, the
GCL-paper variants and condensed lists exist in neither, so they are held to plain-loop transcriptions of
their definitions (for the paper's ERR/RBP: marqo-ai/GCL evals/eval_gs_v1.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gcl_search.evaluation import evaluate


def random_case(seed: int, n_queries: int = 40, n_hits: int = 60, max_grade: int = 3):
    rng = np.random.default_rng(seed)
    judgments, run = {}, {}
    for i in range(n_queries):
        docs = [f"d{j}" for j in rng.choice(200, size=80, replace=False)]
        hits = docs[:n_hits] if i % 7 else docs[:5]  # some short runs
        scores = rng.permutation(len(hits)).astype(float) + rng.random(len(hits))  # distinct
        run[f"q{i}"] = dict(zip(hits, scores.tolist()))
        judged = rng.choice(docs, size=int(rng.integers(1, 40)), replace=False)
        grades = rng.integers(0, max_grade + 1, len(judged))
        grades[0] = max(grades[0], 1)  # every query has a relevant document
        judgments[f"q{i}"] = dict(zip(judged.tolist(), grades.tolist()))
    return judgments, run


PYTREC = {
    "ndcg@10": "ndcg_cut_10",
    "ndcg@5": "ndcg_cut_5",
    "map@100": "map_cut_100",
    "map@5": "map_cut_5",
    "precision@10": "P_10",
    "recall@20": "recall_20",
    "mrr": "recip_rank",
    "map": "map",
    "ndcg": "ndcg",
}


@pytest.mark.parametrize("seed", [0, 1])
def test_against_pytrec_eval(seed: int) -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    judgments, run = random_case(seed)
    measures = {"ndcg_cut.5,10", "map_cut.5,100", "P.10", "recall.20", "recip_rank", "map", "ndcg"}
    theirs = pytrec_eval.RelevanceEvaluator(judgments, measures).evaluate(run)
    ours = evaluate(judgments, run, list(PYTREC)).per_query
    for query_id, values in ours.items():
        for metric, name in PYTREC.items():
            assert values[metric] == pytest.approx(theirs[query_id][name], abs=1e-9), (query_id, metric)


RANX = {
    "ndcg@10": "ndcg@10",
    "ndcg_exp@10": "ndcg_burges@10",
    "map@50": "map@50",
    "mrr@10": "mrr@10",
    "precision@5": "precision@5",
    "recall@30": "recall@30",
}


@pytest.mark.slow  # ranx's numba JIT takes minutes on a cold, shared 2-core machine
def test_against_ranx() -> None:
    ranx = pytest.importorskip("ranx")
    judgments, run = random_case(2)
    qrels, ranx_run = ranx.Qrels(judgments), ranx.Run(run)
    ranx.evaluate(qrels, ranx_run, list(RANX.values()) + ["rbp.8"])
    theirs = ranx_run.scores
    report = evaluate(judgments, run, [*RANX, "rbp@0.8"])
    gmax = report.settings["max_grade"]
    for query_id, values in report.per_query.items():
        for metric, name in RANX.items():
            assert values[metric] == pytest.approx(theirs[name][query_id], abs=1e-9), (query_id, metric)
        # ranx's RBP sums raw grades; ours divides them by gmax.
        assert values["rbp@0.8"] * gmax == pytest.approx(theirs["rbp.8"][query_id], abs=1e-9)


def ranking(hits: dict[str, float]) -> list[str]:
    return [d for d, _ in sorted(hits.items(), key=lambda item: (-item[1], item[0]))]


def loop_err(grades: list[int], gmax: int, k: int | None) -> float:
    total, survive = 0.0, 1.0
    for rank, g in enumerate(grades[:k] if k else grades, start=1):
        r = (2**g - 1) / 2**gmax
        total += survive * r / rank
        survive *= 1 - r
    return total


def loop_rbp(grades: list[int], gmax: int, p: float) -> float:
    return (1 - p) * sum(g / gmax * p ** (rank - 1) for rank, g in enumerate(grades, start=1))


@pytest.mark.parametrize("condensed", [False, True])
def test_hand_written_metrics_against_loops(condensed: bool) -> None:
    judgments, run = random_case(3, max_grade=4)
    report = evaluate(
        judgments,
        run,
        ["err@10", "err", "gcl_err", "rbp@0.7", "gcl_rbp@0.9", "judged@10", "ndcg@10"],
        condensed=condensed,
    )
    collection_max = max(g for docs in judgments.values() for g in docs.values())
    for query_id, values in report.per_query.items():
        docs = ranking(run[query_id])
        if condensed:
            docs = [d for d in docs if d in judgments[query_id]]
        grades = [judgments[query_id].get(d, 0) for d in docs]
        query_max = max(judgments[query_id].values())
        assert values["err@10"] == pytest.approx(loop_err(grades, collection_max, 10), abs=1e-12)
        assert values["err"] == pytest.approx(loop_err(grades, collection_max, None), abs=1e-12)
        assert values["gcl_err"] == pytest.approx(loop_err(grades, query_max, None), abs=1e-12)
        assert values["rbp@0.7"] == pytest.approx(loop_rbp(grades, collection_max, 0.7), abs=1e-12)
        assert values["gcl_rbp@0.9"] == pytest.approx(loop_rbp(grades, query_max, 0.9), abs=1e-12)
        judged = sum(d in judgments[query_id] for d in docs[:10]) / 10
        assert values["judged@10"] == pytest.approx(judged, abs=1e-12)
        ideal = sorted(judgments[query_id].values(), reverse=True)[:10]
        idcg = sum(g / math.log2(r + 1) for r, g in enumerate(ideal, start=1))
        dcg = sum(g / math.log2(r + 1) for r, g in enumerate(grades[:10], start=1))
        assert values["ndcg@10"] == pytest.approx(dcg / idcg, abs=1e-12)


def test_tie_heavy_runs_follow_score_then_doc_id() -> None:
    # integer scores 0..4 over 60 hits: most documents tie, judged and unjudged alike
    judgments, run = random_case(4)
    rng = np.random.default_rng(4)
    run = {q: {d: float(rng.integers(0, 5)) for d in hits} for q, hits in run.items()}
    report = evaluate(judgments, run, ["ndcg@10", "err", "judged@10", "map"])
    collection_max = max(g for docs in judgments.values() for g in docs.values())
    for query_id, values in report.per_query.items():
        docs = ranking(run[query_id])
        grades = [judgments[query_id].get(d, 0) for d in docs]
        assert values["err"] == pytest.approx(loop_err(grades, collection_max, None), abs=1e-12)
        assert values["judged@10"] == pytest.approx(sum(d in judgments[query_id] for d in docs[:10]) / 10)
        relevant_ranks = [r for r, g in enumerate(grades, start=1) if g >= 1]
        n_relevant = sum(g >= 1 for g in judgments[query_id].values())
        ap = sum((i + 1) / r for i, r in enumerate(relevant_ranks)) / n_relevant
        assert values["map"] == pytest.approx(ap, abs=1e-12)

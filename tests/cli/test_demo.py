"""The demo's comparison lines: the model's margins over each baseline, and honesty where a baseline wins."""

from tfseqrec.cli.demo import comparison_lines


def _metrics(hr, ndcg, mrr):
    return {"HR@10": hr, "NDCG@10": ndcg, "MRR": mrr}


def test_a_model_that_wins_everywhere_gets_its_margins():
    rows = [("SASRec", _metrics(0.72, 0.57, 0.53)), ("most popular", _metrics(0.22, 0.11, 0.10))]
    assert comparison_lines(rows) == [
        "  SASRec beats most popular on every metric: HR@10 +0.5000, NDCG@10 +0.4600, MRR +0.4300"
    ]


def test_a_baseline_that_matches_or_beats_the_model_is_named_with_the_metrics():
    rows = [
        ("SASRec", _metrics(0.7627, 0.6014, 0.5625)),
        ("item transitions", _metrics(0.7547, 0.6054, 0.5625)),
        ("most popular", _metrics(0.2357, 0.1262, 0.1118)),
    ]
    lines = comparison_lines(rows)
    assert lines[0] == (
        "  item transitions matches or beats SASRec on NDCG@10, MRR: HR@10 +0.0080, NDCG@10 -0.0040, MRR +0.0000"
    )
    assert lines[1].startswith("  SASRec beats most popular on every metric")
    assert len(lines) == 2

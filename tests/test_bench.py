"""The benchmark registry: results carry rates, ratios and threads, as flat JSON."""
import json

from attnlab.bench import BenchResult, bench_normalizations, registry


def test_normalization_bench_runs_and_reports_ratio():
    r = bench_normalizations(quick=True)
    d = r.to_json()
    json.dumps(d)
    for key in ["name", "setting", "threads", "batched_rows_per_s", "loop_rows_per_s", "speedup", "met"]:
        assert key in d
    assert d["speedup"] == d["batched_rows_per_s"] / d["loop_rows_per_s"]
    assert "normalizations" in registry()


def test_bench_result_met():
    r = BenchResult("x", {}, {"a": 1.0}, {"speedup": 3.0}, {"speedup": 10.0})
    assert r.met is False and "NOT met" in r.format()
    assert BenchResult("x", {}, {}, {"speedup": 30.0}, {"speedup": 10.0}).met is True

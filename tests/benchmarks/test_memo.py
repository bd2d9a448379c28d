"""benchmarks/memo.py: a remembered answer is reused for the same inputs and code; a damaged or
unwritable memo costs time, never the answer."""
import math

from benchmarks import memo


def test_remembered_reuses_and_survives_damage(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"run": {"q": {"d": 0.5}}}

    first = memo.remembered("t", memo, [b"a"], compute)
    assert memo.remembered("t", memo, [b"a"], compute) == first and len(calls) == 1
    assert memo.remembered("t", memo, [b"b"], compute) == first and len(calls) == 2  # other inputs
    for damaged in ("[" * 100000 + "]" * 100000, "{not json", '{"key": "x", "value": 1}'):
        for path in (tmp_path / "memo" / "t").rglob("*.json"):
            path.write_text(damaged)
        assert memo.remembered("t", memo, [b"a"], compute) == first
    assert memo.remembered("t", memo, [b"a"], compute, valid=lambda v: False) == first  # refused: again
    n = len(calls)
    assert math.isnan(memo.remembered("nan", memo, [b"a"], lambda: float("nan")))  # JSON cannot hold it
    assert len(calls) == n and memo.remembered_float("f", memo, [b"a"], lambda: 0.25) == 0.25

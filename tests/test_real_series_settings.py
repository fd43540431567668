"""benchmarks/real_series.py builds its rows without training (statsmodels is needed only to load
the series): the AR-lag rows start as the classical AR (``ar_gate``), each lag order is shorter
than the context, and their labels say so."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import real_series as RS  # noqa: E402


def test_the_ar_lag_rows_are_gated_and_fit_the_context():
    for name, (_, settings) in RS.SERIES.items():
        rows = [v for v in RS.variants_for(name, "warp", ar_order=4) if "ar_lags" in v]
        assert rows, name
        for v in rows:
            assert v["ar_gate"] is True and 1 <= v["ar_lags"] < settings["context"]
            assert RS.variant_label(v).endswith("(gated)")
            assert RS.comparable(RS.variant_label(v))
    co2 = RS.variants_for("co2", "warp", ar_order=4)
    assert dict(phases=(RS.PHASES["co2"],), ar_lags=RS.PERIODS["co2"] + 1, ar_gate=True) in co2
    assert not [v for v in RS.variants_for("co2", "gru", ar_order=4) if "ar_lags" in v]


def test_choose_warp_row_rules():
    """The normalised rule never picks a detrend row (its score is in other units); the record rule
    compares every row on the record-unit score; rows that lost their lr choice never count."""
    rows = [dict(model="warp", seed=0, chosen=True, variant="", val=0.30, val_record=300.0),
            dict(model="warp", seed=0, chosen=True, variant="phases", val=0.20, val_record=200.0),
            dict(model="warp", seed=0, chosen=True, variant="detrend", val=0.01, val_record=150.0),
            dict(model="warp", seed=0, chosen=False, variant="phases", val=0.001, val_record=1.0),
            dict(model="gru", seed=0, chosen=True, variant="", val=0.0, val_record=0.0),
            dict(model="warp", seed=1, chosen=True, variant="", val=0.0, val_record=0.0)]
    pick, n = RS.choose_warp_row(rows, 0, "normalised")
    assert (pick["variant"], n) == ("phases", 2)
    pick, n = RS.choose_warp_row(rows, 0, "record")
    assert (pick["variant"], n) == ("detrend", 3)
    pick, n = RS.choose_row(rows, 0, "normalised", "gru")  # the GRU's rows only
    assert (pick["val"], n) == (0.0, 1)


def test_the_ensemble_row_needs_two_seeds_and_reads_the_picked_runs():
    picks = [dict(model="warp", variant="", lr=0.01, seed=0), dict(model="warp", variant="phases", lr=0.01, seed=1)]
    assert RS.run_key(picks[1]) == ("warp", "phases", 0.01, 1)
    assert RS.ensemble_scores(picks[:1], {RS.run_key(picks[0]): object()}) is None  # one member: no ensemble
    assert RS.ensemble_scores(picks, {RS.run_key(picks[0]): object()}) is None  # the other run failed

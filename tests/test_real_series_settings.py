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

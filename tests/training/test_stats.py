"""Wilson intervals and the exact McNemar test against independent computations."""

import pytest
from scipy.stats import binomtest

from training.stats import mcnemar_exact, wilson_interval


@pytest.mark.parametrize("k,n", [(8, 200), (26, 200), (0, 50), (50, 50), (3, 7)])
def test_wilson_matches_the_closed_form_via_scipy(k, n):
    lo, hi = wilson_interval(k, n)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert lo == pytest.approx(ci.low, abs=1e-9) and hi == pytest.approx(ci.high, abs=1e-9)


def test_wilson_of_known_design_figures():
    # DESIGN.md: base 4.0% -> CI 2.0-7.7 on 200 questions
    lo, hi = wilson_interval(8, 200)
    assert round(100 * lo, 1) == 2.0 and round(100 * hi, 1) == 7.7


def test_mcnemar_counts_discordant_pairs_and_matches_binomial_test():
    a = [True, True, False, False, True, False, False, False, False, False]
    b = [True, False, True, True, True, True, True, False, True, False]
    r = mcnemar_exact(a, b)
    assert (r.only_a, r.only_b) == (1, 5)
    assert r.p_value == pytest.approx(binomtest(1, 6, 0.5).pvalue)


def test_mcnemar_without_discordant_pairs_is_one():
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0


def test_mcnemar_rejects_unpaired_lengths():
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])

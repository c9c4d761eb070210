"""Fair-share reclaims: who gives an executor back (shares written beside each case)."""

from pymesos_rt.master.reclaim import Holder, choose_reclaims
from pymesos_rt.protocol.resources import Resources

TOTAL = Resources(cpus=4, mem=4096)
ONE = Resources(cpus=1)


def weights(**w):
    return lambda role: w.get(role, 1.0)


def holder(fid, cpus, role="*", starving=False):
    used = Resources(cpus=cpus)
    return Holder(fid, role, used, ONE if cpus else None, starving)


def test_busy_framework_gives_back_until_even():
    # A 4/4 = 1.0, B 0 -> moving one: A .75 >= B .25: reclaim
    assert choose_reclaims([holder("A", 4), holder("B", 0, starving=True)], TOTAL, weights()) == [
        "A"
    ]
    # A 3/4 = .75, B .25 -> A .5 >= B .5: reclaim
    assert choose_reclaims([holder("A", 3), holder("B", 1, starving=True)], TOTAL, weights()) == [
        "A"
    ]
    # A .5, B .5 -> A .25 < B .75: even within one executor, stop
    assert choose_reclaims([holder("A", 2), holder("B", 2, starving=True)], TOTAL, weights()) == []


def test_weights_two_to_one():
    six = Resources(cpus=6)
    w = weights(a=2.0, b=1.0)
    # A 5/6/2 = .417, B 1/6 = .167 -> A 4/6/2 = .333 >= B 2/6 = .333: reclaim
    hs = [holder("A", 5, "a"), holder("B", 1, "b", starving=True)]
    assert choose_reclaims(hs, six, w) == ["A"]
    # A 4/6/2 = .333, B 2/6 = .333 -> A .25 < B .5: stop at 4:2 (2/3 and 1/3)
    hs = [holder("A", 4, "a"), holder("B", 2, "b", starving=True)]
    assert choose_reclaims(hs, six, w) == []


def test_nobody_starving_nobody_asked():
    assert choose_reclaims([holder("A", 4), holder("B", 0)], TOTAL, weights()) == []


def test_a_framework_with_nothing_to_give_is_not_asked():
    assert choose_reclaims([holder("A", 0), holder("B", 0, starving=True)], TOTAL, weights()) == []


def test_an_offer_of_other_resources_does_not_stop_a_reclaim():
    # B holds the offer of the agent's spare memory (no CPU): a CPU executor is still moved
    hungry = Holder("B", "*", Resources(), None, True, offered=Resources(mem=4000))
    assert choose_reclaims([holder("A", 4), hungry], TOTAL, weights()) == ["A"]


def test_an_offer_of_what_the_executor_would_bring_stops_a_reclaim():
    # B is answering an offer of a CPU: it needs nobody's executor for now
    hungry = Holder("B", "*", Resources(), None, True, offered=Resources(cpus=1, mem=4000))
    assert choose_reclaims([holder("A", 4), hungry], TOTAL, weights()) == []
    # half a CPU offered: one executor of A still brings what B lacks
    hungry = Holder("B", "*", Resources(), None, True, offered=Resources(cpus=0.5))
    assert choose_reclaims([holder("A", 4), hungry], TOTAL, weights()) == ["A"]

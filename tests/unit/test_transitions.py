import pytest

from escrow.errors import InvalidTransition
from escrow.states import TERMINAL, TRANSITIONS, Event, State, next_state

ALL_PAIRS = [(state, event) for state in State for event in Event]


@pytest.mark.parametrize("state,event", ALL_PAIRS, ids=[f"{s.value}-{e.value}" for s, e in ALL_PAIRS])
def test_every_state_event_pair_follows_the_table(state, event):
    if (state, event) in TRANSITIONS:
        assert next_state(state, event) is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(InvalidTransition):
            next_state(state, event)


@pytest.mark.parametrize("state", sorted(TERMINAL, key=lambda s: s.value))
def test_terminal_states_absorb_every_event(state):
    for event in Event:
        with pytest.raises(InvalidTransition):
            next_state(state, event)


def test_every_state_is_reachable_from_an_order_being_created():
    reached, frontier = set(), {State.REQUESTED, State.AWAITING_PAYMENT}
    while frontier:
        state = frontier.pop()
        reached.add(state)
        frontier |= {target for (source, _), target in TRANSITIONS.items() if source is state} - reached
    assert reached == set(State)


def test_release_and_refund_are_never_both_reachable_from_a_settled_order():
    for state in (State.PAID_OUT, State.REFUNDED, State.SETTLED):
        assert not any(source is state for source, _ in TRANSITIONS)

"""A lab the user left running (the seeds' lab of inventory/hosts.yml) must come out of the suite
exactly as it went in: when its namespaces are there at the start, their links, addresses and
routes are compared at the end (scripts/run-tests.sh brings it up around the suite to prove it)."""
import pytest

from labtest import ip, netns_list

SEEDS_LAB = ('host-a', 'host-b', 'netns01', 'netns02', 'netns03', 'netns04', 'lab-sw-172-16-91-0-24')


def seeds_lab_state():
    state = {}
    for netns in SEEDS_LAB:
        if netns in netns_list():
            state[netns] = (ip('-n', netns, '-br', 'link'), ip('-n', netns, '-4', '-br', 'addr'),
                            ip('-n', netns, '-4', 'route', 'show', 'table', 'all'))
    return state


@pytest.fixture(scope='session', autouse=True)
def seeds_lab_untouched():
    before = seeds_lab_state()
    yield
    if before:
        assert seeds_lab_state() == before, "the suite changed the seeds' lab left running"

"""neigh_limits: how many neighbour entries a netns lab needs, and which limits to raise."""
from ansible_collections.labnet.calico.plugins.module_utils import neigh_limits
from ansible_collections.labnet.calico.plugins.module_utils.netns_plan import plan_lab


def hosts(count, subnet='172.31.9', v6=False):
    return [dict({'name': 'h%d' % i, 'address': '%s.%d/24' % (subnet, 10 + i)},
                 **({'address6': 'fd00:9::%x/64' % (10 + i)} if v6 else {})) for i in range(count)]


def test_a_mesh_on_one_switch_needs_hosts_times_hosts_minus_one():
    assert neigh_limits.entries_needed(plan_lab(hosts(100))) == {'ipv4': 9900, 'ipv6': 0}
    assert neigh_limits.entries_needed(plan_lab(hosts(3, v6=True), pods=['p1', 'p2'])) == {'ipv4': 8, 'ipv6': 8}


def test_two_segments_count_apart_with_the_router_leg():
    plan = plan_lab(hosts(3) + [dict(h, name='k%d' % i) for i, h in enumerate(hosts(2, subnet='172.31.10'))])
    # (3 hosts + the router's leg) x 3 + (2 + 1) x 2
    assert neigh_limits.entries_needed(plan)['ipv4'] == 4 * 3 + 3 * 2


def test_limits_are_raised_never_lowered():
    current = {'net/ipv4/neigh/default/gc_thresh2': '512', 'net/ipv4/neigh/default/gc_thresh3': '1024',
               'net/ipv6/neigh/default/gc_thresh2': '512', 'net/ipv6/neigh/default/gc_thresh3': '1024'}
    assert neigh_limits.wanted_limits({'ipv4': 9900, 'ipv6': 0}, current) == {
        'net/ipv4/neigh/default/gc_thresh2': '9900', 'net/ipv4/neigh/default/gc_thresh3': '19800'}
    assert neigh_limits.wanted_limits({'ipv4': 300, 'ipv6': 300}, current) == {}
    assert neigh_limits.wanted_limits({'ipv4': 600, 'ipv6': 0}, current) == {
        'net/ipv4/neigh/default/gc_thresh2': '600', 'net/ipv4/neigh/default/gc_thresh3': '1200'}

"""The datapath modules' IPv6 half, for real in throw-away namespaces: create, rerun unchanged, drift
repaired, check mode, absent. The fixture and the ad hoc runner are test_modules.py's; nothing here
touches the root namespace."""

import os

import pytest

from labtest import ip
from test_modules import lab, module, pods  # noqa: F401  (lab is a fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def v6(lab):
    """The host namespace's IPv6 underlay: fd00:77:91::1/64 on eth0, no DAD (it is up at once)."""
    ip('-n', lab['host'], 'addr', 'add', 'fd00:77:91::1/64', 'dev', 'eth0', 'nodad')


def lab_routes(netns):
    """Both families' routes of the lab's protocol 77 in a namespace, as ip prints them."""
    return ip('-n', netns, '-4', 'route', 'show', 'proto', '77') + ip('-n', netns, '-6', 'route', 'show', 'proto', '77')


def test_route_both_families_replace_purge_drift_checkmode_absent(lab):
    host = lab['host']
    v6(lab)
    pod = pods(lab, 'r1')
    ip('netns', 'add', pod)
    ip('-n', pod, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0')
    for dev in ('eth0', 'x0'):
        ip('-n', pod, 'link', 'set', dev, 'up')
    ip('-n', host, '-6', 'route', 'add', 'fd00:99::/64', 'via', 'fd00:77:91::9', 'proto', 'static')  # not ours
    routes = {'purge': True, 'routes': [
        {'dest': 'fd00:77:245::/122', 'via': 'fd00:77:91::2', 'dev': 'eth0'},
        {'dest': 'fd00:77:244::/122', 'type': 'blackhole'},
        {'dest': 'fd00:77:244::2/128', 'dev': 'eth1', 'scope': 'link'},
        {'dest': 'fd00:77:246::/122', 'via': 'fd00:77:91::3', 'dev': 'eth0', 'onlink': True, 'mtu': 1430},
        {'dest': '10.77.0.0/24', 'type': 'blackhole'},
        {'dest': '::/0', 'via': 'fe80::ecee:eeff:feee:eeee', 'dev': 'eth0', 'netns': pod}]}
    before = (lab_routes(host), lab_routes(pod))
    assert module(lab, 'calico_route', routes, check=True)['changed']
    assert (lab_routes(host), lab_routes(pod)) == before == ('', '')
    result = module(lab, 'calico_route', routes)
    assert result['changed']
    assert not module(lab, 'calico_route', routes)['changed']            # IPv6's metric 1024 compares equal
    table = ip('-n', host, '-6', 'route')
    assert 'fd00:77:245::/122 via fd00:77:91::2 dev eth0 proto 77 metric 1024' in table
    assert 'blackhole fd00:77:244::/122 dev lo proto 77 metric 1024' in table
    assert 'fd00:77:244::2 dev eth1 proto 77 metric 1024' in table
    assert 'fd00:77:246::/122 via fd00:77:91::3 dev eth0 proto 77 metric 1024 onlink mtu 1430' in table
    assert 'blackhole 10.77.0.0/24 proto 77' in ip('-n', host, 'route')
    assert 'default via fe80::ecee:eeff:feee:eeee dev eth0 proto 77 metric 1024' in ip('-n', pod, '-6', 'route')
    # Drift: another gateway, a stale IPv6 route of ours, the pod's default gone.
    ip('-n', host, '-6', 'route', 'replace', 'fd00:77:245::/122', 'via', 'fd00:77:91::7', 'dev', 'eth0', 'proto', '77')
    ip('-n', host, '-6', 'route', 'add', 'fd00:77:250::/122', 'dev', 'eth0', 'proto', '77')
    ip('-n', pod, '-6', 'route', 'del', 'default')
    result = module(lab, 'calico_route', routes)
    assert result['changed'] and result['purged'] == ['fd00:77:250::/122 dev eth0 proto 77 metric 1024']
    assert not module(lab, 'calico_route', routes)['changed']
    table = ip('-n', host, '-6', 'route')
    assert 'fd00:77:245::/122 via fd00:77:91::2 ' in table and 'fd00:77:250' not in table
    assert table.count('fd00:77:245::/122') == 1
    assert 'default via fe80::ecee:eeff:feee:eeee' in ip('-n', pod, '-6', 'route')
    # absent by destination, then purge of everything ours: both families go, the foreign route stays.
    gone = module(lab, 'calico_route', {'dest': 'fd00:77:246::/122', 'state': 'absent'})
    assert gone['changed'] and 'fd00:77:246' not in ip('-n', host, '-6', 'route')
    assert module(lab, 'calico_route', {'routes': [], 'purge': True, 'purge_netns': [None, pod]})['changed']
    assert (lab_routes(host), lab_routes(pod)) == ('', '')
    assert 'fd00:99::/64 via fd00:77:91::9 dev eth0 proto static' in ip('-n', host, '-6', 'route')

"""What the module tests did not check: calico_neigh (create, rerun, drift, purge, check mode), the
diff each module shows (--diff: before and after), and onlink routes through a tunnel device.

Same throw-away host namespace as test_modules.py; nothing here touches the root namespace.
"""
import json
import os

import pytest

from labtest import ip, ip_json, run
# lab is a pytest fixture: imported for its name.
from test_modules import lab, module, pods, state  # noqa: F401  # pylint: disable=unused-import

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')

VXLAN = {'mode': 'vxlan', 'parent': 'eth0', 'local': '172.31.250.1', 'address': '10.77.0.0', 'mtu_from': 'eth0'}
PEER_MAC, OTHER_MAC = '66:2a:10:8b:51:04', '66:2a:10:8b:51:05'


def neighbours(lab):
    return sorted((n['dst'], n['lladdr']) for n in ip_json('-n', lab['host'], 'neigh', 'show', 'dev', 'vxlan.calico',
                                                           'nud', 'permanent'))


def fdb(lab):
    out = run(['bridge', '-n', lab['host'], '-j', 'fdb', 'show', 'dev', 'vxlan.calico'], timeout=30, check=True).stdout
    return sorted((f['mac'], f.get('dst')) for f in json.loads(out or '[]') if f.get('dst'))


def test_neigh_create_rerun_drift_purge_checkmode(lab):
    assert module(lab, 'calico_tunnel', VXLAN)['changed']
    args = {'purge': True, 'neighbours': [{'address': '10.77.1.0', 'lladdr': PEER_MAC, 'dev': 'vxlan.calico'}],
            'fdb': [{'lladdr': PEER_MAC, 'dev': 'vxlan.calico', 'dst': '172.31.250.2'}]}
    before = state(lab)
    checked = module(lab, 'calico_neigh', args, check=True, diff=True)
    assert checked['changed'] and state(lab) == before and neighbours(lab) == [] and fdb(lab) == []
    removed, added = diff_of(checked)
    assert PEER_MAC in added and PEER_MAC not in removed
    assert module(lab, 'calico_neigh', args)['changed']
    assert neighbours(lab) == [('10.77.1.0', PEER_MAC)] and fdb(lab) == [(PEER_MAC, '172.31.250.2')]
    again = module(lab, 'calico_neigh', args, diff=True)
    assert not again['changed'] and diff_of(again) == ('', '')
    # Drift: the entry points at another VTEP, the FDB at another underlay address, and a stale
    # permanent entry of the lab's device appears; purge removes it, the rest is put back.
    ip('-n', lab['host'], 'neigh', 'replace', '10.77.1.0', 'lladdr', OTHER_MAC, 'dev', 'vxlan.calico', 'nud', 'permanent')
    ip('-n', lab['host'], 'neigh', 'add', '10.77.9.0', 'lladdr', OTHER_MAC, 'dev', 'vxlan.calico', 'nud', 'permanent')
    run(['bridge', '-n', lab['host'], 'fdb', 'replace', PEER_MAC, 'dev', 'vxlan.calico', 'dst', '172.31.250.9', 'self',
         'permanent'], timeout=30, check=True)
    assert module(lab, 'calico_neigh', args)['changed']
    assert neighbours(lab) == [('10.77.1.0', PEER_MAC)] and fdb(lab) == [(PEER_MAC, '172.31.250.2')]
    assert not module(lab, 'calico_neigh', args)['changed']
    # Without purge an unlisted entry stays; absent removes what is listed.
    ip('-n', lab['host'], 'neigh', 'add', '10.77.9.0', 'lladdr', OTHER_MAC, 'dev', 'vxlan.calico', 'nud', 'permanent')
    assert not module(lab, 'calico_neigh', dict(args, purge=False))['changed']
    assert ('10.77.9.0', OTHER_MAC) in neighbours(lab)
    assert module(lab, 'calico_neigh', dict(args, purge=False, state='absent'))['changed']
    assert neighbours(lab) == [('10.77.9.0', OTHER_MAC)] and fdb(lab) == []
    bad = module(lab, 'calico_neigh', {'neighbours': [{'address': '10.77.1.0', 'lladdr': 'zz', 'dev': 'vxlan.calico'}]},
                 expect_failure=True)
    assert bad['msg'].startswith('neighbours[0].lladdr:')


def test_onlink_route_through_the_tunnel_device(lab):
    """Calico's tunnel routes: via the peer's tunnel address, dev vxlan.calico, onlink (no connected route to it)."""
    assert module(lab, 'calico_tunnel', VXLAN)['changed']
    routes = {'routes': [{'dest': '10.77.1.0/26', 'via': '10.77.1.0', 'dev': 'vxlan.calico', 'onlink': True}]}
    assert module(lab, 'calico_route', routes)['changed'] and not module(lab, 'calico_route', routes)['changed']
    found = ip_json('-n', lab['host'], 'route', 'show', '10.77.1.0/26')
    assert [(r['gateway'], r['dev'], r['flags'], r['protocol']) for r in found] == \
        [('10.77.1.0', 'vxlan.calico', ['onlink'], '77')]


def diff_of(result):
    """The lines --diff printed as removed and as added (both empty when nothing would change)."""
    lines = result['_output'].splitlines()
    removed = '\n'.join(l[1:] for l in lines if l.startswith('-') and not l.startswith('---'))
    added = '\n'.join(l[1:] for l in lines if l.startswith('+') and not l.startswith('+++'))
    return removed, added


def test_each_module_shows_before_and_after_in_diff_mode(lab):
    pod = pods(lab, 'p1')
    veth = {'workload': pod, 'address': '10.77.0.2'}
    before, after = diff_of(module(lab, 'calico_veth', veth, check=True, diff=True))
    assert pod not in before and pod in after and 'ee:ee:ee:ee:ee:ee' in after, (before, after)
    module(lab, 'calico_veth', veth)
    cali = module(lab, 'calico_veth', veth)['workloads'][0]['host_ifname']
    assert diff_of(module(lab, 'calico_veth', veth, diff=True)) == ('', '')

    route = {'routes': [{'dest': '10.77.0.2/32', 'dev': cali, 'scope': 'link'}]}
    before, after = diff_of(module(lab, 'calico_route', route, check=True, diff=True))
    assert '10.77.0.2' not in before and '10.77.0.2' in after and cali in after

    proxy = {'interfaces': [cali]}
    before, after = diff_of(module(lab, 'proxy_arp', proxy, check=True, diff=True))
    assert 'net/ipv4/conf/%s/proxy_arp = 0' % cali in before and 'net/ipv4/conf/%s/proxy_arp = 1' % cali in after
    assert 'net/ipv4/neigh/%s/proxy_delay = 0' % cali in after and 'net/ipv4/conf/%s/forwarding = 1' % cali in after

    before, after = diff_of(module(lab, 'calico_tunnel', VXLAN, check=True, diff=True))
    assert 'vxlan.calico' not in before and 'vxlan.calico' in after and '4096' in after
    module(lab, 'calico_tunnel', VXLAN)
    before, after = diff_of(module(lab, 'calico_tunnel', dict(VXLAN, state='absent'), check=True, diff=True))
    assert 'vxlan.calico' in before and after == ''

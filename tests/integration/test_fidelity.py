"""What Felix and the CNI plugin program beyond the veth pair, for real in throw-away namespaces:
the permanent neighbour per pod, the pod's ip_forward, the host end's rp_filter and accept_ra, and the
MTU derived from the underlay. Each: create, rerun unchanged, drift repaired, check mode changes nothing.
"""

import json
import os

import pytest

import test_modules
from labtest import ip, ip_json, run
from test_modules import module, pods, state

lab = test_modules.lab  # the host-namespace fixture of the module tests

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


def permanent_neighbours(host, dev):
    return dict((n['dst'], n['lladdr']) for n in ip_json('-n', host, 'neigh', 'show', 'dev', dev)
                if 'PERMANENT' in n.get('state', []))


def netns_sysctl(netns, key):
    return run(['ip', 'netns', 'exec', netns, 'cat', '/proc/sys/' + key], timeout=10).stdout.strip()


def test_static_arp_and_pod_ip_forward(lab):
    host, pod = lab['host'], pods(lab, 'p1')
    args = {'workloads': [{'workload': pod, 'address': '10.77.0.2'}]}
    before = state(lab)
    check = module(lab, 'calico_veth', args, check=True)
    assert check['changed'] and state(lab) == before
    assert any('neigh replace 10.77.0.2 lladdr pod-mac' in c for c in check['commands'])
    result = module(lab, 'calico_veth', args)
    cali, pod_mac = result['workloads'][0]['host_ifname'], result['workloads'][0]['pod_mac']
    assert pod_mac == json.loads(ip('-n', pod, '-j', 'link', 'show', 'eth0'))[0]['address']
    assert permanent_neighbours(host, cali) == {'10.77.0.2': pod_mac}
    assert netns_sysctl(pod, 'net/ipv4/ip_forward') == '0'
    assert not module(lab, 'calico_veth', args)['changed']

    # Drift: a wrong MAC, a stale entry of the pod's old address, forwarding on in the pod.
    ip('-n', host, 'neigh', 'replace', '10.77.0.2', 'lladdr', '02:00:00:00:00:01', 'dev', cali, 'nud', 'permanent')
    ip('-n', host, 'neigh', 'replace', '10.77.0.9', 'lladdr', '02:00:00:00:00:02', 'dev', cali, 'nud', 'permanent')
    ip('netns', 'exec', pod, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
    drifted = state(lab)
    check = module(lab, 'calico_veth', args, check=True, diff=True)
    assert check['changed'] and state(lab) == drifted and netns_sysctl(pod, 'net/ipv4/ip_forward') == '1'
    assert 'net/ipv4/ip_forward = 1' in check['_output']
    assert module(lab, 'calico_veth', args)['changed']
    assert permanent_neighbours(host, cali) == {'10.77.0.2': pod_mac}
    assert netns_sysctl(pod, 'net/ipv4/ip_forward') == '0'
    assert not module(lab, 'calico_veth', args)['changed']

    # Opting out leaves both alone.
    ip('netns', 'exec', pod, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
    off = {'workloads': [{'workload': pod, 'address': '10.77.0.2', 'static_arp': False}], 'pod_ip_forward': None}
    assert not module(lab, 'calico_veth', off)['changed']
    assert netns_sysctl(pod, 'net/ipv4/ip_forward') == '1'


def test_mtu_from_the_underlay_converges(lab):
    host, pod = lab['host'], pods(lab, 'p1')
    args = {'workload': pod, 'address': '10.77.0.2', 'mtu_from': 'eth0', 'encapsulation': 'vxlan'}
    result = module(lab, 'calico_veth', args)
    cali = result['workloads'][0]['host_ifname']
    assert result['workloads'][0]['mtu'] == 1450
    assert not module(lab, 'calico_veth', args)['changed']
    ip('-n', host, 'link', 'set', 'eth0', 'mtu', '1400')         # the underlay changes
    before = state(lab)
    assert module(lab, 'calico_veth', args, check=True)['changed'] and state(lab) == before
    assert module(lab, 'calico_veth', args)['changed']
    assert json.loads(ip('-n', host, '-j', 'link', 'show', cali))[0]['mtu'] == 1350
    assert json.loads(ip('-n', pod, '-j', 'link', 'show', 'eth0'))[0]['mtu'] == 1350
    assert not module(lab, 'calico_veth', args)['changed']
    assert module(lab, 'calico_veth', dict(args, encapsulation='none'))['workloads'][0]['mtu'] == 1400
    assert module(lab, 'calico_veth', dict(args, mtu=1300))['workloads'][0]['mtu'] == 1300   # override wins
    tunnel = {'mode': 'vxlan', 'parent': 'eth0', 'local': '172.31.250.1', 'address': '10.77.0.0', 'mtu_from': 'eth0'}
    assert module(lab, 'calico_tunnel', tunnel)['changed']
    assert json.loads(ip('-n', host, '-j', 'link', 'show', 'vxlan.calico'))[0]['mtu'] == 1350
    failed = module(lab, 'calico_veth', dict(args, mtu_from='nope0'), expect_failure=True)
    assert failed['msg'] == 'mtu_from: no device nope0 on this host'


def test_proxy_arp_rp_filter_and_accept_ra(lab):
    host = lab['host']
    ipv6 = os.path.exists('/proc/sys/net/ipv6/conf/all/accept_ra')
    ip('netns', 'exec', host, 'sysctl', '-q', '-w', 'net.ipv4.conf.default.rp_filter=2')
    args = {'interfaces': ['eth1']}
    before = state(lab)
    result = module(lab, 'proxy_arp', args, check=True)
    assert result['changed'] and state(lab) == before
    assert result['after']['net/ipv4/conf/eth1/rp_filter'] == '2'      # the namespace's default
    assert module(lab, 'proxy_arp', args)['changed'] and not module(lab, 'proxy_arp', args)['changed']
    assert netns_sysctl(host, 'net/ipv4/conf/eth1/rp_filter') == '2'
    if ipv6:
        assert netns_sysctl(host, 'net/ipv6/conf/eth1/accept_ra') == '0'
        ip('netns', 'exec', host, 'sysctl', '-q', '-w', 'net.ipv6.conf.eth1.accept_ra=1')   # drift
    ip('netns', 'exec', host, 'sysctl', '-q', '-w', 'net.ipv4.conf.eth1.rp_filter=0')
    assert module(lab, 'proxy_arp', args)['changed']
    assert netns_sysctl(host, 'net/ipv4/conf/eth1/rp_filter') == '2'
    if ipv6:
        assert netns_sysctl(host, 'net/ipv6/conf/eth1/accept_ra') == '0'
    assert not module(lab, 'proxy_arp', dict(args, rp_filter=None, accept_ra=None))['changed']
    bad = module(lab, 'proxy_arp', dict(args, rp_filter='loose'), expect_failure=True)
    assert bad['msg'] == "interfaces[0].rp_filter: 'loose' is not 0, 1, 2 or default"


def test_route_mtu_create_rerun_drift_checkmode(lab):
    host = lab['host']
    routes = {'routes': [{'dest': '10.77.1.0/24', 'via': '172.31.250.2', 'dev': 'eth0', 'onlink': True, 'mtu': 1450}],
              'purge': True}
    before = state(lab)
    assert module(lab, 'calico_route', routes, check=True)['changed'] and state(lab) == before
    assert module(lab, 'calico_route', routes)['changed']
    assert not module(lab, 'calico_route', routes)['changed']
    assert 'mtu 1450' in ip('-n', host, 'route', 'show', '10.77.1.0/24')
    ip('-n', host, 'route', 'replace', '10.77.1.0/24', 'via', '172.31.250.2', 'dev', 'eth0', 'onlink', 'proto', '77')
    assert module(lab, 'calico_route', routes)['changed']
    table = ip('-n', host, 'route', 'show', '10.77.1.0/24')
    assert 'mtu 1450' in table and table.count('10.77.1.0/24') == 1
    plain = {'routes': [dict(routes['routes'][0], mtu=None)], 'purge': True}
    assert module(lab, 'calico_route', plain)['changed'] and 'mtu' not in ip('-n', host, 'route', 'show', '10.77.1.0/24')


def test_proxy_arp_null_leaves_a_setting_alone(lab):
    """The documented `forwarding: null`: accepted, and that sysctl is neither read for a change nor written."""
    host = lab['host']
    ip('netns', 'exec', host, 'sysctl', '-q', '-w', 'net.ipv4.conf.eth1.forwarding=0')
    result = module(lab, 'proxy_arp', {'interfaces': ['eth1'], 'forwarding': None, 'proxy_delay': None})
    assert 'net/ipv4/conf/eth1/forwarding' not in result['after']
    assert 'net/ipv4/neigh/eth1/proxy_delay' not in result['after']
    assert netns_sysctl(host, 'net/ipv4/conf/eth1/forwarding') == '0'
    bad = module(lab, 'proxy_arp', {'interfaces': ['eth1'], 'forwarding': 'sometimes'}, expect_failure=True)
    assert bad['msg'] == "interfaces[0].forwarding: 'sometimes' is not a boolean"

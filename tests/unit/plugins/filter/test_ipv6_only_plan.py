"""IPv6-only hosts (issue 13): the inventory check's refusals (mixed labs, IPIP, IPv4 fields), the plan
(None in every IPv4 key), the filter items (the v6 pieces only), BIRD's configuration (router id from
the node name's hash, no IPv4 at all; accepted by BIRD's parser), verify's report and the netns plan."""
import copy
import shutil
import subprocess

import pytest

from ansible_collections.labnet.calico.plugins.filter import calico_bird, calico_lab, calico_verify
from ansible_collections.labnet.calico.plugins.module_utils import bird, netns_plan
from ansible_collections.labnet.calico.plugins.module_utils.iproute import LabError

from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_calico_bird import render
from ansible_collections.labnet.calico.tests.unit.plugins.filter.test_dual_stack_plan import (
    plan as dual_stack_plan, refusal as dual_stack_refusal,
)

# inventories/ipv6-only
V6_ONLY = {
    'host-a': {'calico_node_address_v6': 'fd00:91::201/64',
               'calico_workloads': [{'name': 'netns01'}, {'name': 'netns02'}]},
    'host-b': {'calico_node_address_v6': 'fd00:91::202/64',
               'calico_workloads': [{'name': 'netns03'}, {'name': 'netns04', 'ip6': 'fd00:10:244::4a'}]},
}
V4_KEYS = ('node_address', 'node_ip', 'subnet', 'block', 'tunnel_address', 'vtep_mac')


def plan(hostvars=None, mode='bgp', **kwargs):
    return dual_stack_plan(copy.deepcopy(V6_ONLY) if hostvars is None else hostvars, mode, **kwargs)


def refusal(change, mode='bgp', **kwargs):
    return dual_stack_refusal(change, mode, V6_ONLY, **kwargs)


def test_an_ipv6_only_host_has_none_in_every_ipv4_key():
    lab = plan()
    a = lab['host-a']
    assert all(a[key] is None for key in V4_KEYS)
    assert (a['node_ip_v6'], a['block_v6'], a['tunnel_address_v6']) == ('fd00:91::201', 'fd00:10:244::/122',
                                                                        'fd00:10:244::')
    assert [(w['ip'], w['ip6']) for w in a['workloads']] == [(None, 'fd00:10:244::1'), (None, 'fd00:10:244::2')]
    assert [w['ip6'] for w in lab['host-b']['workloads']] == ['fd00:10:244::41', 'fd00:10:244::4a']
    peer = a['peers'][0]
    assert (peer['node_ip'], peer['block'], peer['encapsulate'], peer['node_ip_v6']) == (None, None, False,
                                                                                         'fd00:91::202')
    assert calico_lab.lab_blocks_summary(lab)[0] == (
        'host-a fd00:91::201/64 block fd00:10:244::/122 pods netns01=fd00:10:244::1, netns02=fd00:10:244::2')


def test_filter_items_are_the_v6_pieces_only():
    a = plan()['host-a']
    w = a['workloads'][0]
    assert calico_lab.workload_veths(a)[0] == {'workload': 'default.netns01', 'netns': 'netns01',
                                               'host_ifname': w['host_ifname'], 'address6': 'fd00:10:244::1'}
    # No /32, no 169.254.1.1: the /128 and the default route via the host end's link-local address.
    assert calico_lab.workload_routes(a)[:2] == [
        {'dest': 'fd00:10:244::1/128', 'dev': w['host_ifname'], 'scope': 'link'},
        {'dest': '::/0', 'via': 'fe80::ecee:eeff:feee:eeee', 'dev': 'eth0', 'netns': 'netns01'}]
    # The host end: IPv6 sysctls, every IPv4 one left alone (the CNI plugin's configureSysctls, hasIPv4).
    assert calico_lab.host_end_interfaces(a)[0] == {
        'name': w['host_ifname'], 'ipv6': True, 'proxy_arp': None, 'proxy_delay': None, 'forwarding': None,
        'route_localnet': None, 'rp_filter': None}
    assert calico_lab.peer_routes(a, 'bgp') == [
        {'dest': 'fd00:10:244::/122', 'type': 'blackhole'},
        {'dest': 'fd00:10:244::40/122', 'via': 'fd00:91::202', 'dev': 'eth0'}]
    vxlan = plan(mode='vxlan')['host-a']
    assert calico_lab.peer_routes(vxlan, 'vxlan', None, 1430)[1] == {
        'dest': 'fd00:10:244::40/122', 'via': 'fd00:10:244::40', 'dev': 'vxlan-v6.calico', 'onlink': True, 'mtu': 1430}
    peers = calico_lab.vxlan_peers(vxlan)
    assert [n['dev'] for n in peers['neighbours']] == ['vxlan-v6.calico']
    assert [f['dst'] for f in peers['fdb']] == ['fd00:91::202']
    assert calico_lab.lab_pods(plan())[0] == {'name': 'netns01', 'ip6': 'fd00:10:244::1'}
    assert calico_lab.capture_probes(plan(), 'host-a') == [
        {'source': 'netns01', 'target': 'netns03', 'source_ip6': 'fd00:10:244::1', 'ip6': 'fd00:10:244::41'}]
    assert calico_lab.netns_host(dict(V6_ONLY['host-a'], inventory_hostname='host-a')) == {
        'name': 'host-a', 'dev': 'eth0', 'address6': 'fd00:91::201/64', 'gateway6': None}


@pytest.mark.parametrize('change, mode, wanted', [
    (lambda hv: None, 'ipip',
     ['host-a: calico_node_address_v6: fd00:91::201/64 without calico_node_address', 'IPIP mode carries IPv4 only']),
    (lambda hv: hv['host-b'].update(calico_node_address='172.16.91.202/24'), 'bgp',
     ['host-a: IPv6-only', 'beside host-b', 'IPv6-only on every host or on none']),
    (lambda hv: hv['host-a'].update(calico_pod_cidr='10.10.0.0/24'), 'bgp',
     ['host-a: calico_pod_cidr: 10.10.0.0/24 is IPv4, but the host is IPv6-only']),
    (lambda hv: hv['host-a']['calico_workloads'][0].update(ip='10.10.0.2'), 'bgp',
     ['host-a: calico_workloads[0].ip: 10.10.0.2 is IPv4, but host-a is IPv6-only']),
    (lambda hv: hv['host-a'].update(calico_underlay_gateway='172.16.91.1'), 'vxlan',
     ['host-a: calico_underlay_gateway: 172.16.91.1 is IPv4']),
    (lambda hv: [hv[h].update(calico_policies=[{'name': 'p', 'selector': 'all()', 'types': ['Ingress']}]) for h in hv],
     'bgp', ['host-a, host-b: calico_policies with IPv6-only hosts']),
])
def test_refusals_name_host_field_and_value(change, mode, wanted):
    message = refusal(change, mode)
    assert 'nothing was changed' in message
    for part in wanted:
        assert part in message, message


def test_an_ipv4_pool_in_an_ipv6_only_lab_is_refused():
    assert 'calico_ipam_pool: 10.244.0.0/16 is an IPv4 pool' in refusal(lambda hv: None, pool='10.244.0.0/16')


def test_bird_router_id_is_confds_hash_and_the_config_has_no_ipv4():
    # HashToIPv4 (confd/pkg/resource/template/util.go): sha256('host-a')[:4] = c1 51 e3 92 -> 193.81.227.146.
    assert bird.hash_router_id('host-a') == '193.81.227.146'
    # A first byte above 223 loses 32: sha256('n13') = f4 f5 0d ed (244 -> 212).
    assert bird.hash_router_id('n13') == '212.245.13.237'
    lab = plan()
    settings = calico_bird.bird_config(lab, 'host-a')
    assert (settings['router_id'], settings['ipv4'], settings['block'], settings['next_hops']) == (
        '193.81.227.146', False, None, [])
    assert [(s['name'], s['family']) for s in settings['sessions']] == [('Mesh_fd00_91__202', 'ipv6')]
    text = render(lab, 'host-a')
    assert 'router id 193.81.227.146;' in text and 'IPv4 disabled on this node' in text
    assert 'ipv4' not in text and 'labnet_peer {' not in text and 'labnet_peer_v6 {' in text


@pytest.mark.skipif(not shutil.which('bird'), reason='needs bird (apt-get install bird2)')
def test_the_ipv6_only_config_is_accepted_by_bird(tmp_path):
    config = tmp_path / 'bird.conf'
    config.write_text(render(plan(), 'host-b'))
    result = subprocess.run(['bird', '-p', '-c', str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_bird_report_judges_the_v6_sessions_and_blocks_only():
    lab = plan()
    protocols = dict((h, 'Name Proto Table State Since Info\nMesh_fd00_91__20%d BGP --- up 10:00 Established\n'
                      % (2 if h == 'host-a' else 1)) for h in lab)
    routes = dict((h, '[{"type": "blackhole", "dst": "%s", "protocol": "bird", "flags": []}, '
                      '{"dst": "%s", "gateway": "%s", "dev": "eth0", "protocol": "bird", "flags": []}]'
                   % (lab[h]['block_v6'], lab[h]['peers'][0]['block_v6'], lab[h]['peers'][0]['node_ip_v6']))
                  for h in lab)
    report = calico_bird.bird_report(lab, protocols, routes)
    assert report['failures'] == []
    assert report['lines'][0] == ('host-a: 1/1 BGP sessions Established (IPv6 1/1), 1/1 peer blocks learned '
                                  '(proto bird; IPv6 1/1)')


def test_verify_says_there_is_no_ipv4():
    lab = plan()
    pings = dict((h, [{'source': s['name'], 'target': t['name'], 'ip': t['ip6'], 'family': 'ipv6', 'sent': 3,
                       'received': 3, 'ok': True, 'ttl': 63 if h == th else 62,
                       'host_dev': 'eth0' if h != th else t['host_ifname'], 'error': None}
                      for s in lab[h]['workloads'] for th in sorted(lab) for t in lab[th]['workloads']
                      if t['name'] != s['name']]) for h in lab)
    report = calico_verify.verify_report(pings, lab)
    assert report['families'] == ['ipv6']
    assert report['lines'][0] == 'no IPv4 in this lab: IPv6 only'
    assert report['lines'][1] == 'full matrix: 12 of 12 ordered pod pairs probed over IPv6'
    assert not [line for line in report['lines'] if 'IPv4' in line[:20] and line != report['lines'][0]]


def test_netns_plan_of_ipv6_only_hosts():
    result = netns_plan.plan_lab([{'name': 'host-a', 'address6': 'fd00:91::201/64'},
                                  {'name': 'host-b', 'address6': 'fd00:91::202/64'}], 'lab')
    assert [s['switch'] for s in result['segments']] == ['lab-sw-fd00-91---64'] and result['router'] is None
    a = result['hosts'][0]
    assert (a['address'], a['default_route'], a['default_route_v6'], a['address6']) == (
        None, None, None, 'fd00:91::201/64')
    # IPv6 forwarding alone: the lab leaves IPv4 as the namespace has it.
    assert netns_plan.forward_keys(result) == {'host-a': [netns_plan.FORWARD_KEY_V6],
                                               'host-b': [netns_plan.FORWARD_KEY_V6]}
    routed = netns_plan.plan_lab([{'name': 'host-a', 'address6': 'fd00:91::201/64'},
                                  {'name': 'host-c', 'address6': 'fd00:92::203/64'}], 'lab')
    assert routed['router'] == 'lab-router'
    legs = [s['router_leg'] for s in routed['segments']]
    assert all(leg.startswith('s6-') and len(leg) == 15 for leg in legs) and len(set(legs)) == 2
    assert [s['gateway'] for s in routed['segments']] == [None, None]
    assert [h['default_route_v6']['via'] for h in routed['hosts']] == ['fd00:91::1', 'fd00:92::1']
    assert netns_plan.forward_keys(routed)['lab-router'] == [netns_plan.FORWARD_KEY_V6]
    with pytest.raises(LabError, match='IPv6-only all or none'):
        netns_plan.plan_lab([{'name': 'host-a', 'address6': 'fd00:91::201/64'},
                             {'name': 'host-b', 'address': '172.16.91.202/24'}], 'lab')

"""The lab plan's IPv6 half (issue 13): inventory checks, blocks, pods' ip6, peers and filter items."""
import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.labnet.calico.plugins.filter import calico_lab
from ansible_collections.labnet.calico.plugins.module_utils import dual_stack, inventory_check

# The seeds' two hosts, dual stack (inventories/dual-stack).
DUAL = {
    'host-a': {'calico_node_address': '172.16.91.201/24', 'calico_node_address_v6': 'fd00:91::201/64',
               'calico_pod_cidr': '10.10.0.0/24',
               'calico_workloads': [{'name': 'netns01', 'ip': '10.10.0.2'}, {'name': 'netns02'}]},
    'host-b': {'calico_node_address': '172.16.91.202/24', 'calico_node_address_v6': 'fd00:91::202/64',
               'calico_pod_cidr': '10.10.1.0/24',
               'calico_workloads': [{'name': 'netns03', 'ip6': 'fd00:10:244::4a'}, {'name': 'netns04'}]},
}
POOL6 = 'fd00:10:244::/48'


def plan(hostvars=None, mode='bgp', **kwargs):
    hostvars = copy.deepcopy(DUAL if hostvars is None else hostvars)
    kwargs.setdefault('pool_v6', POOL6)
    return calico_lab.calico_lab_plan(hostvars, sorted(hostvars), mode=mode, **kwargs)


def refusal(change, mode='bgp', base=None, **kwargs):
    """The plan's error for BASE (default DUAL) after CHANGE."""
    hostvars = copy.deepcopy(DUAL if base is None else base)
    change(hostvars)
    with pytest.raises(AnsibleFilterError) as info:
        plan(hostvars, mode=mode, **kwargs)
    return str(info.value)


def test_dual_stack_host_plan_keys():
    a = plan()['host-a']
    assert (a['node_address_v6'], a['node_ip_v6'], a['subnet_v6']) == ('fd00:91::201/64', 'fd00:91::201', 'fd00:91::/64')
    # Calico's default IPv6 block is a /122; blocks are cut from the pool in inventory order.
    assert a['block_v6'] == 'fd00:10:244::/122' and a['tunnel_address_v6'] == 'fd00:10:244::'
    assert plan()['host-b']['block_v6'] == 'fd00:10:244::40/122'
    # Felix hashes "<node>-v6" for the IPv6 VTEP MAC (felix/calc/vxlan_resolver.go vtepMACForHost).
    assert a['vtep_mac_v6'] == dual_stack.vtep_mac('host-a-v6') != a['vtep_mac']
    assert a['vtep_mac_v6'].startswith('66:')


def test_pods_get_the_next_free_ip6_and_keep_their_own():
    result = plan()
    assert [w['ip6'] for w in result['host-a']['workloads']] == ['fd00:10:244::1', 'fd00:10:244::2']
    assert [w['ip6'] for w in result['host-b']['workloads']] == ['fd00:10:244::4a', 'fd00:10:244::41']
    assert [w['ip'] for w in result['host-a']['workloads']] == ['10.10.0.2', '10.10.0.1']


def test_a_host_without_ipv6_has_none_in_every_v6_key():
    hostvars = copy.deepcopy(DUAL)
    hostvars['host-b'].pop('calico_node_address_v6')
    hostvars['host-b']['calico_workloads'][0].pop('ip6')
    result = plan(hostvars)
    assert all(result['host-b'][key] is None for key in dual_stack.V6_KEYS)
    assert [w['ip6'] for w in result['host-b']['workloads']] == [None, None]
    assert result['host-a']['peers'][0]['block_v6'] is None
    assert result['host-a']['peers'][0]['encapsulate_v6'] is False
    assert calico_lab.peer_routes(result['host-a'], 'bgp')[-1] == {'dest': 'fd00:10:244::/122', 'type': 'blackhole'}
    assert calico_lab.peer_routes(result['host-b'], 'bgp') == [{'dest': '10.10.1.0/24', 'type': 'blackhole'},
                                                               {'dest': '10.10.0.0/24', 'via': '172.16.91.201',
                                                                'dev': 'eth0'}]
    assert 'ip6' not in calico_lab.lab_pods(result)[-1]


def test_ipv4_only_labs_plan_as_before():
    hostvars = copy.deepcopy(DUAL)
    for host in hostvars.values():
        host.pop('calico_node_address_v6')
        host['calico_workloads'] = [{'name': w['name']} for w in host['calico_workloads']]
    result = plan(hostvars, pool_v6=None)
    assert calico_lab.workload_veths(result['host-a'])[0] == {
        'workload': 'default.netns01', 'netns': 'netns01', 'address': '10.10.0.1',
        'host_ifname': result['host-a']['workloads'][0]['host_ifname']}
    assert len(calico_lab.workload_routes(result['host-a'])) == 6


def test_explicit_v6_blocks_come_first_and_the_pool_skips_them():
    hostvars = copy.deepcopy(DUAL)
    hostvars['host-b']['calico_pod_cidr_v6'] = 'fd00:10:244::/122'
    hostvars['host-b']['calico_workloads'][0]['ip6'] = 'fd00:10:244::9'
    result = plan(hostvars)
    assert result['host-b']['block_v6'] == 'fd00:10:244::/122'
    assert result['host-a']['block_v6'] == 'fd00:10:244::40/122'
    # Explicit blocks need no pool.
    hostvars['host-a']['calico_pod_cidr_v6'] = 'fd00:10:245::/120'
    assert plan(hostvars, pool_v6=None, block_size_v6=128)['host-a']['block_v6'] == 'fd00:10:245::/120'


def test_block_size_v6_from_settings_and_hosts():
    hostvars = copy.deepcopy(DUAL)
    hostvars['host-b']['calico_workloads'][0].pop('ip6')
    assert plan(hostvars, block_size_v6=120)['host-b']['block_v6'] == 'fd00:10:244::100/120'
    for host in hostvars.values():
        host['calico_block_size_v6'] = 124
    assert plan(hostvars)['host-b']['block_v6'] == 'fd00:10:244::10/124'


def test_filter_items_of_the_contract():
    a = plan(mode='vxlan')['host-a']
    w = a['workloads'][0]
    assert calico_lab.workload_veths(a)[0]['address6'] == 'fd00:10:244::1'
    routes = calico_lab.workload_routes(a)
    assert {'dest': 'fd00:10:244::1/128', 'dev': w['host_ifname'], 'scope': 'link'} in routes
    assert {'dest': '::/0', 'via': 'fe80::ecee:eeff:feee:eeee', 'dev': 'eth0', 'netns': 'netns01'} in routes
    assert {'dest': 'default', 'via': '169.254.1.1', 'dev': 'eth0', 'netns': 'netns01'} in routes
    assert calico_lab.peer_routes(a, 'vxlan', 1450)[2:] == [
        {'dest': 'fd00:10:244::/122', 'type': 'blackhole'},
        # vxlan-v6.calico's MTU: the underlay's less 70, so 20 below vxlan.calico's (felix int_dataplane.go).
        {'dest': 'fd00:10:244::40/122', 'via': 'fd00:10:244::40', 'dev': 'vxlan-v6.calico', 'onlink': True,
         'mtu': 1430}]
    assert calico_lab.peer_routes(a, 'vxlan', 1450, 1400)[-1]['mtu'] == 1400
    b_mac6 = dual_stack.vtep_mac('host-b', 6)
    peers = calico_lab.vxlan_peers(a)
    assert peers['neighbours'][1] == {'address': 'fd00:10:244::40', 'lladdr': b_mac6, 'dev': 'vxlan-v6.calico'}
    assert peers['fdb'][1] == {'lladdr': b_mac6, 'dev': 'vxlan-v6.calico', 'dst': 'fd00:91::202'}
    assert calico_lab.lab_pods(plan())[0] == {'name': 'netns01', 'ip': '10.10.0.2', 'ip6': 'fd00:10:244::1'}
    assert 'fd00:10:244::/122' in calico_lab.lab_blocks_summary(plan())[0]


@pytest.mark.parametrize('mode', ['bgp', 'ipip'])
def test_v6_routes_over_the_underlay_in_bgp_and_ipip_mode(mode):
    a = plan(mode=mode)['host-a']
    peer = a['peers'][0]
    assert peer['same_subnet_v6'] is True and peer['encapsulate_v6'] is False
    # IPIP carries IPv4 only: the IPv6 block goes straight to the peer, as in BGP mode.
    assert calico_lab.peer_routes(a, mode)[-1] == {'dest': 'fd00:10:244::40/122', 'via': 'fd00:91::202', 'dev': 'eth0'}
    assert calico_lab.vxlan_peers(a)['fdb'] == ([{'lladdr': a['peers'][0]['vtep_mac'], 'dev': 'vxlan.calico',
                                                  'dst': '172.16.91.202'}] if mode == 'ipip' else [])


def test_vxlan_cross_subnet_encapsulates_only_across_v6_subnets():
    hostvars = copy.deepcopy(DUAL)
    for host in hostvars.values():
        host['calico_vxlan_mode'] = 'cross_subnet'
    peer = plan(hostvars, mode='vxlan', ipip_mode='cross_subnet')['host-a']['peers'][0]
    assert (peer['same_subnet_v6'], peer['encapsulate_v6']) == (True, False)
    hostvars['host-b']['calico_node_address_v6'] = 'fd00:92::202/64'
    hostvars['host-b']['calico_node_address'] = '172.16.92.202/24'
    peer = plan(hostvars, mode='vxlan', ipip_mode='cross_subnet')['host-a']['peers'][0]
    assert (peer['same_subnet_v6'], peer['encapsulate_v6']) == (False, True)


def test_node_address_v6_defaults_to_a_64():
    hostvars = copy.deepcopy(DUAL)
    hostvars['host-a']['calico_node_address_v6'] = 'fd00:91::201'
    assert plan(hostvars)['host-a']['node_address_v6'] == 'fd00:91::201/64'


def test_netns_host_item_gains_address6():
    hv = dict(DUAL['host-a'], inventory_hostname='host-a', calico_underlay_gateway_v6='fd00:91::1')
    assert calico_lab.netns_host(hv)['address6'] == 'fd00:91::201/64'
    assert calico_lab.netns_host(hv)['gateway6'] == 'fd00:91::1'
    assert 'address6' not in calico_lab.netns_host(dict(hv, calico_node_address_v6=None))


def on(host, **values):
    return lambda hostvars: hostvars[host].update(values)


def pod(host, index, **values):
    return lambda hostvars: hostvars[host]['calico_workloads'][index].update(values)


def no_ip6(change):
    """CHANGE, with host-b's pod given no ip6 of its own (its block moves)."""
    def both(hostvars):
        hostvars['host-b']['calico_workloads'][0].pop('ip6')
        change(hostvars)
    return both


def everywhere(**values):
    def change(hostvars):
        for host in hostvars.values():
            host.update(values)
    return change


def no_v6_everywhere(**values):
    def change(hostvars):
        for host in hostvars.values():
            host.pop('calico_node_address_v6', None)
            for workload in host['calico_workloads']:
                workload.pop('ip6', None)
            host.update(values)
    return change


def test_policies_plan_on_dual_stack_hosts():
    hostvars = copy.deepcopy(DUAL)
    everywhere(calico_policies=[{'name': 'p', 'ingress': [{'action': 'Allow', 'protocol': 'ICMPv6'}]}])(hostvars)
    assert plan(hostvars)['host-a']['block_v6'] == 'fd00:10:244::/122'


# (change, mode, kwargs, every piece the message must hold: host, field, value)
RULES = {
    'node address v6 bad': (on('host-a', calico_node_address_v6='fd00:91::zz/64'), 'bgp', {},
                            ['host-a: calico_node_address_v6', 'fd00:91::zz']),
    'node address v6 link-local': (on('host-a', calico_node_address_v6='fe80::1/64'), 'bgp', {},
                                   ['host-a: calico_node_address_v6', 'fe80::1', 'link-local']),
    'node address v6 is v4': (on('host-a', calico_node_address_v6='172.16.91.201/24'), 'bgp', {},
                              ['host-a: calico_node_address_v6', '172.16.91.201', 'not an IPv6']),
    'node address v6 twice': (on('host-b', calico_node_address_v6='fd00:91::201/64'), 'bgp', {},
                              ['host-b', 'calico_node_address_v6', 'fd00:91::201', "host-a's"]),
    'pool v6 bad': (lambda h: None, 'bgp', {'pool_v6': 'fd00:10:244::1/48'},
                    ['calico_ipam_pool_v6', 'fd00:10:244::1/48']),
    'pool v6 link-local': (lambda h: None, 'bgp', {'pool_v6': 'fe80::/64'}, ['calico_ipam_pool_v6', 'link-local']),
    'pool v6 overlaps underlay': (no_ip6(lambda h: None), 'bgp', {'pool_v6': 'fd00::/16'},
                                  ['calico_ipam_pool_v6', 'fd00::/16', 'fd00:91::/64']),
    'block size v6 range': (everywhere(calico_block_size_v6=64), 'bgp', {},
                            ['calico_block_size_v6', '64', '116-128']),
    'block size v6 bigger than pool': (lambda h: None, 'bgp', {'pool_v6': 'fd00:10:244::/124'},
                                       ['calico_block_size_v6', '/122', 'fd00:10:244::/124']),
    'no v6 block': (lambda h: None, 'bgp', {'pool_v6': None},
                    ['host-a: calico_node_address_v6', 'no calico_pod_cidr_v6 and no calico_ipam_pool_v6']),
    'pod cidr v6 bad': (on('host-a', calico_pod_cidr_v6='fd00:10::1/120'), 'bgp', {},
                        ['host-a: calico_pod_cidr_v6', 'fd00:10::1/120']),
    'pod cidr v6 special': (on('host-a', calico_pod_cidr_v6='ff00::/120'), 'bgp', {},
                            ['host-a: calico_pod_cidr_v6', 'ff00::/120', 'multicast']),
    'pod cidr v6 without node v6': (on('host-a', calico_node_address_v6=None, calico_pod_cidr_v6='fd00:10::/120'),
                                    'bgp', {}, ['host-a: calico_pod_cidr_v6', 'calico_node_address_v6 is not']),
    'pod ip6 without node v6': (on('host-b', calico_node_address_v6=None), 'bgp', {},
                                ['host-b: calico_workloads[].ip6', 'calico_node_address_v6 is not']),
    'pod ip6 bad': (pod('host-a', 0, ip6='fd00:10:244::g'), 'bgp', {},
                    ['host-a: calico_workloads[0].ip6', 'fd00:10:244::g']),
    'pod ip6 outside': (pod('host-a', 0, ip6='fd00:10:244::99'), 'bgp', {},
                        ['host-a: calico_workloads[0].ip6', 'fd00:10:244::99', 'outside']),
    'pod ip6 is the tunnel address': (pod('host-a', 0, ip6='fd00:10:244::'), 'bgp', {},
                                      ['host-a: calico_workloads[0].ip6', 'already used']),
    'pod ip6 twice': (pod('host-b', 1, ip6='fd00:10:244::4a'), 'bgp', {},
                      ['host-b: calico_workloads[1].ip6', 'fd00:10:244::4a', 'already used']),
    'v6 block exhausted': (on('host-a', calico_pod_cidr_v6='fd00:10:245::/127'), 'bgp', {},
                           ['host-a', 'fd00:10:245::/127', 'no free IPv6 address', 'netns02']),
    'v6 blocks overlap': (lambda h: (h['host-a'].update(calico_pod_cidr_v6='fd00:10:245::/120'),
                                     h['host-b'].update(calico_pod_cidr_v6='fd00:10:245::/122')), 'bgp', {},
                          ['calico_pod_cidr_v6', 'fd00:10:245::/122', 'overlaps']),
    'v6 block overlaps underlay': (no_ip6(on('host-a', calico_pod_cidr_v6='fd00:91::/120')), 'bgp', {},
                                   ['host-a', 'IPv6 pod block fd00:91::/120', 'fd00:91::/64']),
    'gateway v6 outside': (on('host-a', calico_underlay_gateway_v6='fd00:92::1'), 'bgp', {},
                           ['host-a: calico_underlay_gateway_v6', 'fd00:92::1', 'fd00:91::/64']),
    'bgp across v6 subnets': (on('host-b', calico_node_address_v6='fd00:92::202/64'), 'bgp', {},
                              ['host-a', 'host-b', 'fd00:92::/64', 'one IPv6 subnet', 'BGP mode']),
    'ipip across v6 subnets': (on('host-b', calico_node_address_v6='fd00:92::202/64'), 'ipip', {},
                               ['one IPv6 subnet', 'IPIP carries IPv4 only']),
    'ipv6-only host beside a dual-stack one': (on('host-a', calico_node_address=None), 'bgp', {},
                                               ['host-a: IPv6-only', 'beside host-b', 'IPv6-only on every host or on none']),
    # Dual-stack hosts get policy in both families; an IPv6-only rule in a lab with no IPv6 host polices nothing.
    'ipv6 rule without ipv6 hosts': (
        no_v6_everywhere(calico_policies=[{'name': 'p', 'ingress': [{'action': 'Allow', 'protocol': 'ICMPv6'}]}]),
        'bgp', {'pool_v6': None}, ['calico_policies p.ingress[0]', 'IPv6 only', 'ICMPv6', 'hosts: host-a, host-b']),
    'pool v6 differs between hosts': (on('host-a', calico_ipam_pool_v6='fd00:10:245::/48'), 'bgp', {},
                                      ['calico_ipam_pool_v6', 'lab-wide']),
}


@pytest.mark.parametrize('rule', sorted(RULES))
def test_each_v6_rule_refuses_naming_field_and_value(rule):
    change, mode, kwargs, pieces = RULES[rule]
    message = refusal(change, mode=mode, **kwargs)
    for piece in pieces:
        assert piece in message, (rule, message)


def test_v6_problems_are_reported_with_the_v4_ones_at_once():
    def many(hostvars):
        hostvars['host-a']['calico_node_address_v6'] = 'fd00:91::zz'
        hostvars['host-b']['calico_workloads'][1]['ip6'] = 'nope'
        hostvars['host-b']['calico_underlay_dev'] = 'eth 0'
    message = refusal(many)
    assert '3 problems, nothing was changed' in message


def test_check_inventory_returns_the_v6_lab_wide_values():
    lab, problems = inventory_check.check_inventory(copy.deepcopy(DUAL), sorted(DUAL), 'bgp',
                                                    {'calico_ipam_pool_v6': POOL6})
    assert problems == [] and str(lab['calico_ipam_pool_v6']) == POOL6 and lab['calico_block_size_v6'] == 122


def test_the_dual_stack_inventory_plans():
    import os
    import yaml
    path = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'inventories', 'dual-stack', 'hosts.yml')
    with open(path) as handle:
        data = yaml.safe_load(handle)
    nodes = data['all']['children']['calico_nodes']
    hostvars = dict((name, dict(data['all']['vars'], **dict(nodes['vars'], **values)))
                    for name, values in nodes['hosts'].items())
    result = calico_lab.calico_lab_plan(hostvars, list(hostvars), mode='vxlan')
    assert [w['ip6'] for w in result['host-b']['workloads']] == ['fd00:10:244::41', 'fd00:10:244::4a']
    assert result['host-a']['peers'][0]['encapsulate_v6'] is True

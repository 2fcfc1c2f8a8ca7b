"""The lab plan (IPAM, peers, refusals)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.labnet.calico.plugins.filter import calico_lab

SEEDS = {
    'host-a': {'calico_node_address': '172.16.91.201/24', 'calico_pod_cidr': '10.10.0.0/24',
               'calico_workloads': [{'name': 'netns01', 'ip': '10.10.0.2'}, {'name': 'netns02', 'ip': '10.10.0.3'}]},
    'host-b': {'calico_node_address': '172.16.91.202/24', 'calico_pod_cidr': '10.10.1.0/24',
               'calico_workloads': [{'name': 'netns03', 'ip': '10.10.1.2'}, {'name': 'netns04', 'ip': '10.10.1.3'}]},
}


def plan(hostvars, **kwargs):
    return calico_lab.calico_lab_plan(hostvars, sorted(hostvars), **kwargs)


def test_seeds_plan():
    result = plan(SEEDS, mode='ipip')
    assert result['host-a']['tunnel_address'] == '10.10.0.0'
    assert result['host-a']['peers'] == [{'name': 'host-b', 'node_ip': '172.16.91.202', 'block': '10.10.1.0/24',
                                          'tunnel_address': '10.10.1.0', 'vtep_mac': calico_lab.vtep_mac('host-b'),
                                          'same_subnet': True, 'encapsulate': True, 'node_ip_v6': None,
                                          'block_v6': None, 'tunnel_address_v6': None, 'vtep_mac_v6': None,
                                          'same_subnet_v6': False, 'encapsulate_v6': False}]
    assert calico_lab.peer_routes(result['host-a'], 'ipip') == [
        {'dest': '10.10.0.0/24', 'type': 'blackhole'},
        {'dest': '10.10.1.0/24', 'via': '172.16.91.202', 'dev': 'tunl0', 'onlink': True}]
    plain = {'dest': '10.10.1.0/24', 'via': '172.16.91.202', 'dev': 'eth0'}
    assert calico_lab.peer_routes(result['host-a'], 'bgp')[1] == plain
    # Felix's tunnelRoute carries the tunnel's MTU; routes over the underlay carry none.
    assert calico_lab.peer_routes(result['host-a'], 'ipip', 1480)[1]['mtu'] == 1480
    assert 'mtu' not in calico_lab.peer_routes(result['host-a'], 'bgp', 1480)[1]
    assert calico_lab.peer_routes(plan(SEEDS, mode='vxlan')['host-a'], 'vxlan', '1450')[1]['mtu'] == 1450


def test_ipam_is_deterministic_and_skips_explicit_blocks():
    hostvars = {'n1': {'calico_node_address': '192.168.1.1/24', 'calico_workloads': [{'name': 'p1'}, {'name': 'p2'}]},
                'n2': {'calico_node_address': '192.168.1.2/24', 'calico_pod_cidr': '10.244.0.0/26',
                       'calico_workloads': [{'name': 'p3', 'ip': '10.244.0.9'}, {'name': 'p4'}]}}
    first = plan(hostvars, pool='10.244.0.0/16')
    assert first == plan(hostvars, pool='10.244.0.0/16')
    assert first['n1']['block'] == '10.244.0.64/26'
    assert [w['ip'] for w in first['n1']['workloads']] == ['10.244.0.65', '10.244.0.66']
    assert [w['ip'] for w in first['n2']['workloads']] == ['10.244.0.9', '10.244.0.1']


@pytest.mark.parametrize('change, message', [
    (lambda h: h['host-b'].update(calico_pod_cidr='10.10.0.0/16'), 'overlaps'),
    (lambda h: h['host-b']['calico_workloads'].append({'name': 'netns01'}), 'netns01 is also a pod of host-a'),
    (lambda h: h['host-b']['calico_workloads'].append({'name': 'x', 'ip': '10.10.0.9'}), "outside host-b's block"),
    (lambda h: h['host-b']['calico_workloads'].append({'name': 'x', 'ip': '10.10.1.2'}), 'already used'),
    (lambda h: h['host-b'].update(calico_node_address='172.16.92.202/24'), 'not on one L2 segment'),
])
def test_bad_inventories_are_refused(change, message):
    hostvars = {'host-a': dict(SEEDS['host-a'], calico_workloads=list(SEEDS['host-a']['calico_workloads'])),
                'host-b': dict(SEEDS['host-b'], calico_workloads=list(SEEDS['host-b']['calico_workloads']))}
    change(hostvars)
    with pytest.raises(AnsibleFilterError, match=message):
        plan(hostvars, mode='bgp')


def test_cross_subnet_encapsulates_only_across_subnets():
    hostvars = dict(SEEDS, **{'host-c': {'calico_node_address': '172.16.92.10/24', 'calico_pod_cidr': '10.10.2.0/24'}})
    peers = dict((p['name'], p['encapsulate']) for p in plan(hostvars, mode='ipip', ipip_mode='cross_subnet')['host-a']['peers'])
    assert peers == {'host-b': False, 'host-c': True}


def test_pods_are_named_as_calico_names_them_from_namespace_and_pod():
    hostvars = {'host-a': dict(SEEDS['host-a'], calico_workloads=[
        {'name': 'netns01', 'ip': '10.10.0.2'}, {'name': 'netns02', 'ip': '10.10.0.3', 'namespace': 'kube-system'}]),
        'host-b': SEEDS['host-b']}
    result = plan(hostvars, mode='bgp')
    w1, w2 = result['host-a']['workloads']
    # cali + sha1("default.netns01")[:11] and sha1("kube-system.netns02")[:11] (printf %s ... | sha1sum)
    assert (w1['namespace'], w1['workload'], w1['netns'], w1['host_ifname']) == (
        'default', 'default.netns01', 'netns01', 'caliadc59a9f7cf')
    assert (w2['namespace'], w2['workload'], w2['netns'], w2['host_ifname']) == (
        'kube-system', 'kube-system.netns02', 'netns02', 'calid5a975bf2c6')
    assert calico_lab.workload_veths(result['host-a'])[0] == {
        'workload': 'default.netns01', 'netns': 'netns01', 'host_ifname': 'caliadc59a9f7cf', 'address': '10.10.0.2'}
    assert calico_lab.workload_routes(result['host-a'])[0]['dev'] == 'caliadc59a9f7cf'


def test_host_ifname_filter_with_and_without_namespace():
    assert calico_lab.host_ifname('netns01', 'default') == 'caliadc59a9f7cf'
    assert calico_lab.host_ifname('default.netns01') == 'caliadc59a9f7cf'
    assert calico_lab.host_ifname('netns01') == 'calibe793eb2780'  # a bare workload id, hashed as given
    with pytest.raises(AnsibleFilterError, match='Kubernetes namespace'):
        calico_lab.host_ifname('netns01', 'Bad_NS')


def test_vtep_mac_is_felixs():
    # 0x66 + sha1(node name)[0:5]: printf %s host-a | sha1sum -> b7a07e28cc...
    assert calico_lab.vtep_mac('host-a') == '66:b7:a0:7e:28:cc'
    assert calico_lab.vtep_mac('host-b') == '66:87:15:48:5e:7a'

"""The inventory check: one test per refusal rule, each naming the host, the field and the value,
and the lab-wide values resolved from the hosts' vars, the play's settings and the defaults."""
import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.labnet.calico.plugins.filter import calico_lab
from ansible_collections.labnet.calico.plugins.module_utils import inventory_check

SEEDS = {
    'host-a': {'calico_lab_provider': 'netns', 'calico_node_address': '172.16.91.201/24',
               'calico_pod_cidr': '10.10.0.0/24',
               'calico_workloads': [{'name': 'netns01', 'ip': '10.10.0.2'}, {'name': 'netns02', 'ip': '10.10.0.3'}]},
    'host-b': {'calico_lab_provider': 'netns', 'calico_node_address': '172.16.91.202/24',
               'calico_pod_cidr': '10.10.1.0/24',
               'calico_workloads': [{'name': 'netns03', 'ip': '10.10.1.2'}, {'name': 'netns04', 'ip': '10.10.1.3'}]},
}


def everywhere(**values):
    """A change to every host's vars (as group vars would be)."""
    def change(hostvars):
        for host in hostvars.values():
            host.update(values)
    return change


def on(host, **values):
    return lambda hostvars: hostvars[host].update(values)


def pod(host, index, **values):
    return lambda hostvars: hostvars[host]['calico_workloads'][index].update(values)


def from_pool(**values):
    """Blocks and pod addresses from a pool instead of the seeds' explicit ones."""
    def change(hostvars):
        for host in hostvars.values():
            host.pop('calico_pod_cidr')
            host['calico_workloads'] = [{'name': w['name']} for w in host['calico_workloads']]
            host.update(values)
    return change


def refusal(change, mode='bgp', settings=None, pool=None):
    hostvars = copy.deepcopy(SEEDS)
    change(hostvars)
    with pytest.raises(AnsibleFilterError) as info:
        calico_lab.calico_lab_plan(hostvars, sorted(hostvars), pool=pool, mode=mode, settings=settings)
    return str(info.value)


# (change, mode, every piece the message must hold: host, field, value)
RULES = {
    'mode': (lambda h: None, 'bgq', ['calico_mode', "'bgq'"]),
    'routing': (everywhere(calico_routing='bgpp'), 'bgp', ['host-a, host-b: calico_routing', "'bgpp'"]),
    'ipip_mode': (everywhere(calico_ipip_mode='sometimes'), 'ipip', ['calico_ipip_mode', "'sometimes'"]),
    'vxlan_mode': (everywhere(calico_vxlan_mode='crosssubnet'), 'vxlan', ['calico_vxlan_mode', "'crosssubnet'"]),
    'provider': (everywhere(calico_lab_provider='vagrant'), 'bgp', ['calico_lab_provider', "'vagrant'"]),
    'lab-wide differs': (on('host-b', calico_as_number=64513), 'bgp',
                         ['calico_as_number', 'hosts differ', 'host-a 64512', 'host-b 64513']),
    'providers mixed': (on('host-b', calico_lab_provider='qemu'), 'bgp',
                        ['calico_lab_provider', "host-a 'netns'", "host-b 'qemu'"]),
    'as number range': (everywhere(calico_as_number=4294967296), 'bgp', ['calico_as_number', '4294967296', '1-4294967295']),
    'as number text': (everywhere(calico_as_number='64512a'), 'bgp', ['calico_as_number', "'64512a'", 'whole number']),
    'cluster id': (everywhere(calico_route_reflector_cluster_id='244.0.0'), 'bgp',
                   ['calico_route_reflector_cluster_id', '244.0.0', 'not an IPv4 address']),
    'reflectors not a list': (everywhere(calico_route_reflectors='host-a'), 'bgp',
                              ['calico_route_reflectors', "'host-a'", 'must be a list']),
    'reflector unknown': (everywhere(calico_route_reflectors=['host-c']), 'bgp',
                          ['calico_route_reflectors', "'host-c'", 'not a lab host']),
    'reflector twice': (everywhere(calico_route_reflectors=['host-a', 'host-a']), 'bgp',
                        ['calico_route_reflectors', 'twice']),
    'hold time': (everywhere(calico_bird_hold_time=2), 'bgp', ['calico_bird_hold_time', '2', '0 or 3-65535']),
    'keepalive': (everywhere(calico_bird_keepalive_time=40), 'bgp',
                  ['calico_bird_keepalive_time', '40', 'calico_bird_hold_time 30']),
    'connect retry': (everywhere(calico_bird_connect_retry=0), 'bgp', ['calico_bird_connect_retry', '0', '1-65535']),
    'wait timeout': (everywhere(calico_bird_wait_timeout='soon'), 'bgp', ['calico_bird_wait_timeout', "'soon'"]),
    'route proto reserved': (everywhere(calico_workload_route_proto=2), 'bgp',
                             ['calico_workload_route_proto', '2', 'kernel']),
    'route protos equal': (everywhere(calico_peer_route_proto=77), 'bgp', ['calico_peer_route_proto', 'both 77']),
    'veth mtu': (everywhere(calico_veth_mtu=9999999), 'bgp', ['calico_veth_mtu', '9999999', '68-65535']),
    'verify count': (everywhere(calico_verify_count=0), 'bgp', ['calico_verify_count', '0', '1-100']),
    'verify deadline': (everywhere(calico_verify_deadline=True), 'bgp', ['calico_verify_deadline', 'True']),
    'bird one host': (lambda h: (h.pop('host-b'), everywhere(calico_routing='bird')(h)), 'bgp',
                      ['calico_routing', 'at least two lab hosts']),
    'block size': (everywhere(calico_block_size=33), 'bgp', ['calico_block_size', '33', '0-32']),
    'block size in pool': (everywhere(calico_block_size=12, calico_ipam_pool='10.244.0.0/16'), 'bgp',
                           ['calico_block_size', '/12', '10.244.0.0/16']),
    'pool': (everywhere(calico_ipam_pool='10.244.0.1/16'), 'bgp', ['calico_ipam_pool', '10.244.0.1/16', 'host bits']),
    'pool special': (everywhere(calico_ipam_pool='169.254.0.0/16'), 'bgp', ['calico_ipam_pool', '169.254.0.0/16',
                                                                            'link-local']),
    'pool exhausted': (from_pool(calico_ipam_pool='10.244.0.0/26', calico_block_size=26), 'bgp',
                       ['host-b', 'calico_ipam_pool 10.244.0.0/26', 'no free /26 block']),
    'pool over underlay': (from_pool(calico_ipam_pool='172.16.0.0/16'), 'bgp',
                           ['172.16.91.0/24', 'underlay subnet']),
    'host name': (lambda h: h.update({'host;b': h.pop('host-b')}), 'bgp', ["'host;b'", 'inventory host name']),
    'host name too long': (lambda h: h.update({'h' * 65: h.pop('host-b')}), 'bgp', ['h' * 65, 'inventory host name']),
    'host is the router': (lambda h: h.update({'lab-router': h.pop('host-b')}), 'bgp', ['lab-router', 'router namespace']),
    'node address missing': (on('host-b', calico_node_address=None), 'bgp', ['host-b: calico_node_address', 'missing']),
    'node address bad': (on('host-b', calico_node_address='172.16.91.300/24'), 'bgp',
                         ['host-b: calico_node_address', '172.16.91.300/24']),
    'node address is network': (on('host-b', calico_node_address='172.16.91.0/24'), 'bgp',
                                ['host-b: calico_node_address', '172.16.91.0/24', 'network address']),
    'node address special': (on('host-b', calico_node_address='127.0.0.2/8'), 'bgp',
                             ['host-b: calico_node_address', '127.0.0.2/8', 'loopback']),
    'node address twice': (on('host-b', calico_node_address='172.16.91.201/24'), 'bgp',
                           ['host-b: calico_node_address', '172.16.91.201', 'host-a']),
    'underlay dev': (on('host-b', calico_underlay_dev='eth0;reboot'), 'bgp',
                     ['host-b: calico_underlay_dev', "'eth0;reboot'"]),
    'underlay dev too long': (on('host-b', calico_underlay_dev='e' * 16), 'bgp',
                              ['host-b: calico_underlay_dev', 'e' * 16, 'at most 15']),
    'underlay dev lo': (on('host-b', calico_underlay_dev='lo'), 'bgp', ['host-b: calico_underlay_dev', 'lo']),
    'gateway outside': (on('host-b', calico_underlay_gateway='172.16.92.1'), 'bgp',
                        ['host-b: calico_underlay_gateway', '172.16.92.1', '172.16.91.0/24']),
    'pod cidr bad': (on('host-b', calico_pod_cidr='10.10.1.1/24'), 'bgp', ['host-b: calico_pod_cidr', '10.10.1.1/24']),
    'pod cidr special': (on('host-b', calico_pod_cidr='224.0.0.0/24'), 'bgp',
                         ['host-b: calico_pod_cidr', '224.0.0.0/24', 'multicast']),
    'blocks overlap': (on('host-b', calico_pod_cidr='10.10.0.0/16'), 'bgp', ['host-b: calico_pod_cidr', '10.10.0.0/16',
                                                                             'overlaps']),
    'block over underlay': (on('host-b', calico_pod_cidr='172.16.91.0/25',
                               calico_workloads=[{'name': 'netns03', 'ip': '172.16.91.2'}]), 'bgp',
                            ['host-b', '172.16.91.0/25', 'underlay subnet 172.16.91.0/24']),
    'tunnel address outside': (on('host-b', calico_tunnel_address='10.10.0.1'), 'ipip',
                               ['host-b: calico_tunnel_address', '10.10.0.1', 'outside']),
    'tunnel address bad': (on('host-b', calico_tunnel_address='tunnel'), 'ipip',
                           ['host-b: calico_tunnel_address', "'tunnel'"]),
    'workloads not a list': (on('host-b', calico_workloads={'name': 'netns03'}), 'bgp',
                             ['host-b: calico_workloads', 'must be a list']),
    'workload not a mapping': (on('host-b', calico_workloads=['netns03']), 'bgp',
                               ['host-b: calico_workloads[0]', "'netns03'", 'mapping']),
    'workload unknown key': (pod('host-b', 0, IP='10.10.1.9'), 'bgp', ['host-b: calico_workloads[0]', 'unknown key IP']),
    'workload name missing': (pod('host-b', 0, name=''), 'bgp', ['host-b: calico_workloads[0].name', 'missing']),
    'workload name shell': (pod('host-b', 0, name='$(reboot)'), 'bgp', ['host-b: calico_workloads[0].name',
                                                                        "'$(reboot)'"]),
    'workload name too long': (pod('host-b', 0, name='p' * 65), 'bgp', ['host-b: calico_workloads[0].name', 'p' * 65]),
    'workload name twice': (pod('host-b', 0, name='netns01'), 'bgp', ['host-b: calico_workloads[0].name', 'netns01',
                                                                      'host-a']),
    'workload named like a host': (pod('host-b', 0, name='host-a'), 'bgp', ['host-b: calico_workloads', 'host-a',
                                                                            'lab host']),
    'workload namespace upper case': (pod('host-b', 0, namespace='Default'), 'bgp',
                                      ['host-b: calico_workloads[0].namespace', "'Default'", 'Kubernetes namespace']),
    'workload namespace shell': (pod('host-b', 0, namespace='a;b'), 'bgp',
                                 ['host-b: calico_workloads[0].namespace', "'a;b'"]),
    'workload namespace too long': (pod('host-b', 0, namespace='n' * 64), 'bgp',
                                    ['host-b: calico_workloads[0].namespace', 'n' * 64, '1-63']),
    'workload namespace empty': (pod('host-b', 0, namespace=''), 'bgp', ['host-b: calico_workloads[0].namespace']),
    'workload namespace ends with -': (pod('host-b', 0, namespace='kube-'), 'bgp',
                                       ['host-b: calico_workloads[0].namespace', "'kube-'"]),
    'workload ip bad': (pod('host-b', 0, ip='10.10.1.256'), 'bgp', ['host-b: calico_workloads[0].ip', '10.10.1.256']),
    'workload ip outside': (pod('host-b', 0, ip='10.10.0.9'), 'bgp', ['host-b: calico_workloads[0].ip', '10.10.0.9',
                                                                      'outside']),
    'workload ip twice': (pod('host-b', 1, ip='10.10.1.2'), 'bgp', ['host-b: calico_workloads[1].ip', '10.10.1.2',
                                                                    'already used']),
    'block exhausted': (on('host-b', calico_pod_cidr='10.10.1.0/30',
                           calico_workloads=[{'name': 'netns03'}, {'name': 'netns04'}, {'name': 'netns05'}]), 'bgp',
                        ['host-b', 'block 10.10.1.0/30', 'no free address', 'netns05']),
    'bgp across subnets': (on('host-b', calico_node_address='172.16.92.202/24'), 'bgp', ['host-a', 'host-b',
                                                                                         'one L2 segment']),
    'no hosts': (lambda h: h.clear(), 'bgp', ['calico_nodes is empty']),
}


@pytest.mark.parametrize('rule', sorted(RULES))
def test_each_rule_refuses_naming_field_and_value(rule):
    change, mode, pieces = RULES[rule]
    message = refusal(change, mode=mode)
    for piece in pieces:
        assert piece in message, (rule, message)


def test_every_problem_is_reported_at_once():
    def many(hostvars):
        everywhere(calico_routing='bgpp')(hostvars)
        on('host-a', calico_underlay_dev='eth 0')(hostvars)
        pod('host-b', 0, name='a b')(hostvars)
    message = refusal(many)
    assert '3 problems, nothing was changed' in message
    assert 'calico_routing' in message and 'host-a: calico_underlay_dev' in message
    assert 'host-b: calico_workloads[0].name' in message


def test_a_good_inventory_is_accepted_and_planned_as_before():
    plan = calico_lab.calico_lab_plan(copy.deepcopy(SEEDS), sorted(SEEDS), mode='ipip')
    assert plan['host-b']['workloads'][0]['ip'] == '10.10.1.2'


def test_settings_fill_in_what_the_hosts_leave_unset_and_host_vars_win():
    hostvars = copy.deepcopy(SEEDS)
    lab, problems = inventory_check.check_inventory(hostvars, sorted(hostvars), 'bgp',
                                                    {'calico_routing': 'bird', 'calico_as_number': '65000'})
    assert problems == [] and lab['calico_routing'] == 'bird' and lab['calico_as_number'] == 65000
    everywhere(calico_as_number=64999)(hostvars)
    lab, problems = inventory_check.check_inventory(hostvars, sorted(hostvars), 'bgp', {'calico_as_number': 65000})
    assert lab['calico_as_number'] == 64999
    lab, problems = inventory_check.check_inventory(copy.deepcopy(SEEDS), sorted(SEEDS), 'bgp', None)
    assert lab['calico_bird_hold_time'] == 30 and lab['calico_routing'] == 'static'


def test_the_pool_may_come_from_the_hosts_group_vars():
    hostvars = copy.deepcopy(SEEDS)
    from_pool(calico_ipam_pool='10.244.0.0/16')(hostvars)
    plan = calico_lab.calico_lab_plan(hostvars, sorted(hostvars), pool=None, mode='bgp')
    assert plan['host-b']['block'] == '10.244.0.64/26'


def test_the_settings_value_is_checked_too():
    message = refusal(lambda h: None, settings={'calico_routing': 'bgp'})
    assert "host-a, host-b: calico_routing: 'bgp' is not one of static, bird" in message


def test_pods_may_share_names_with_hosts_off_the_netns_provider():
    hostvars = copy.deepcopy(SEEDS)
    everywhere(calico_lab_provider='qemu')(hostvars)
    pod('host-b', 0, name='host-a')(hostvars)
    assert calico_lab.calico_lab_plan(hostvars, sorted(hostvars), mode='bgp')['host-b']['workloads'][0]['name'] == 'host-a'

"""A battery of wrong inventories, each run through the real playbook as a user would: every one is
refused in the first play, before anything changes, with the field named - and none of the
namespaces that inventory would have made exists afterwards.

The inventories use names of their own (val-*, vpod*) so that a refusal that failed to happen
could not touch another lab. The runs are independent processes, a few at a time.
"""

import copy
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PLAYBOOK = os.path.join(ROOT, '.venv', 'bin', 'ansible-playbook')

BASE = {'all': {'vars': {}, 'children': {'calico_nodes': {
    'vars': {'calico_lab_provider': 'netns'},
    'hosts': {
        'val-a': {'calico_node_address': '172.16.191.201/24', 'calico_pod_cidr': '10.110.0.0/24',
                  'calico_workloads': [{'name': 'vpod01', 'ip': '10.110.0.2'}, {'name': 'vpod02'}]},
        'val-b': {'calico_node_address': '172.16.191.202/24', 'calico_pod_cidr': '10.110.1.0/24',
                  'calico_workloads': [{'name': 'vpod03', 'ip': '10.110.1.2'}, {'name': 'vpod04'}]},
    }}}}}


def lab_vars(**values):
    return lambda inv: inv['all']['vars'].update(values)


def group_vars(**values):
    return lambda inv: inv['all']['children']['calico_nodes']['vars'].update(values)


def host(name, **values):
    return lambda inv: inv['all']['children']['calico_nodes']['hosts'][name].update(values)


def pod(host_name, index, **values):
    return lambda inv: inv["all"]["children"]["calico_nodes"]["hosts"][host_name]["calico_workloads"][index].update(values)


def rename(old, new):
    def change(inv):
        hosts = inv['all']['children']['calico_nodes']['hosts']
        hosts[new] = hosts.pop(old)
    return change


def from_pool(pool, size=26):
    def change(inv):
        for item in inv['all']['children']['calico_nodes']['hosts'].values():
            item.pop('calico_pod_cidr')
            item['calico_workloads'] = [{'name': w['name']} for w in item['calico_workloads']]
        inv['all']['vars'].update(calico_ipam_pool=pool, calico_block_size=size)
    return change


# id: (playbook, change, pieces of the message: field and value)
BATTERY = {
    'unknown routing': ('bgp.yml', lab_vars(calico_routing='bgpp'), ['calico_routing', "'bgpp'"]),
    'unknown ipip mode': ('ipip.yml', lab_vars(calico_ipip_mode='sometimes'), ['calico_ipip_mode', "'sometimes'"]),
    'unknown vxlan mode': ('vxlan.yml', lab_vars(calico_vxlan_mode='Always'), ['calico_vxlan_mode', "'Always'"]),
    'unknown provider': ('bgp.yml', group_vars(calico_lab_provider='lxd'), ['calico_lab_provider', "'lxd'"]),
    'mixed providers': ('bgp.yml', host('val-b', calico_lab_provider='qemu'), ['calico_lab_provider', "val-b 'qemu'"]),
    'reflector not a lab host': ('bgp.yml', lab_vars(calico_routing='bird', calico_route_reflectors=['rr-9']),
                                 ['calico_route_reflectors', "'rr-9'", 'not a lab host']),
    'reflectors as a string': ('bgp.yml', lab_vars(calico_route_reflectors='val-a'),
                               ['calico_route_reflectors', "'val-a'", 'list']),
    'AS number out of range': ('bgp.yml', lab_vars(calico_routing='bird', calico_as_number=0),
                               ['calico_as_number', '0', '1-4294967295']),
    'AS number differs': ('bgp.yml', host('val-b', calico_as_number=64513), ['calico_as_number', 'val-b 64513']),
    'cluster id': ('bgp.yml', lab_vars(calico_route_reflector_cluster_id='244.0.0.300'),
                   ['calico_route_reflector_cluster_id', '244.0.0.300']),
    'hold time': ('bgp.yml', lab_vars(calico_bird_hold_time=1), ['calico_bird_hold_time', '1']),
    'keepalive above hold': ('bgp.yml', lab_vars(calico_bird_keepalive_time=60), ['calico_bird_keepalive_time', '60']),
    'connect retry text': ('bgp.yml', lab_vars(calico_bird_connect_retry='fast'),
                           ['calico_bird_connect_retry', "'fast'"]),
    'route proto of the kernel': ('bgp.yml', lab_vars(calico_peer_route_proto=2), ['calico_peer_route_proto', '2']),
    'veth MTU': ('bgp.yml', lab_vars(calico_veth_mtu=20), ['calico_veth_mtu', '20']),
    'block size': ('bgp.yml', from_pool('10.244.0.0/16', 40), ['calico_block_size', '40']),
    'pool CIDR with host bits': ('bgp.yml', from_pool('10.244.0.7/16'), ['calico_ipam_pool', '10.244.0.7/16']),
    'pool exhausted': ('bgp.yml', from_pool('10.244.0.0/26'), ['calico_ipam_pool 10.244.0.0/26', 'no free /26']),
    'pool over the underlay': ('bgp.yml', from_pool('172.16.0.0/16'), ['calico_ipam_pool', '172.16.191.0/24']),
    'block exhausted': ('bgp.yml', host('val-b', calico_pod_cidr='10.110.1.0/31', calico_workloads=[{'name': 'vpod03'}]),
                        ['val-b', '10.110.1.0/31', 'no free address']),
    'pod CIDR not a network': ('bgp.yml', host('val-b', calico_pod_cidr='10.110.1.0/33'),
                               ['val-b: calico_pod_cidr', '10.110.1.0/33']),
    'block over the underlay': ('bgp.yml', host('val-b', calico_pod_cidr='172.16.191.128/25',
                                                calico_workloads=[{'name': 'vpod03'}]),
                                ['val-b', '172.16.191.128/25', 'underlay subnet']),
    'blocks overlap': ('bgp.yml', host('val-b', calico_pod_cidr='10.110.0.0/16'), ['calico_pod_cidr', 'overlaps']),
    'node address missing': ('bgp.yml', host('val-b', calico_node_address=None),
                             ['val-b: calico_node_address', 'missing']),
    'node address twice': ('bgp.yml', host('val-b', calico_node_address='172.16.191.201/24'),
                           ['val-b: calico_node_address', '172.16.191.201']),
    'node address is the broadcast': ('bgp.yml', host('val-b', calico_node_address='172.16.191.255/24'),
                                      ['val-b: calico_node_address', '172.16.191.255/24', 'broadcast']),
    'gateway outside the subnet': ('bgp.yml', host('val-b', calico_underlay_gateway='192.0.2.1'),
                                   ['val-b: calico_underlay_gateway', '192.0.2.1']),
    'underlay dev too long': ('bgp.yml', host('val-b', calico_underlay_dev='underlay-device0'),
                              ['val-b: calico_underlay_dev', 'underlay-device0']),
    'host name with shell characters': ('bgp.yml', rename('val-b', 'val-b;id'), ["'val-b;id'"]),
    'host name too long': ('bgp.yml', rename('val-b', 'val-' + 'b' * 70), ['val-' + 'b' * 70]),
    'pod name with shell characters': ('bgp.yml', pod('val-b', 0, name='vpod03$(id)'),
                                       ['val-b: calico_workloads[0].name', "'vpod03$(id)'"]),
    'pod name too long': ('bgp.yml', pod('val-b', 0, name='vpod' + '3' * 70),
                          ['calico_workloads[0].name', 'vpod' + '3' * 70]),
    'pod name twice': ('bgp.yml', pod('val-b', 0, name='vpod01'), ['calico_workloads[0].name', 'vpod01', 'val-a']),
    'pod named like a host': ('bgp.yml', pod('val-b', 0, name='val-a'), ['calico_workloads', 'val-a', 'lab host']),
    'pod address outside the block': ('bgp.yml', pod('val-b', 0, ip='10.110.0.3'),
                                      ['val-b: calico_workloads[0].ip', '10.110.0.3']),
    'pod address not an address': ('bgp.yml', pod('val-b', 0, ip='10.110.1'), ['calico_workloads[0].ip', '10.110.1']),
    'workload key misspelt': ('bgp.yml', pod('val-b', 1, IP='10.110.1.9'), ['calico_workloads[1]', 'unknown key IP']),
    'BGP mode across subnets': ('bgp.yml', host('val-b', calico_node_address='172.16.192.202/24'),
                                ['val-a', 'val-b', 'one L2 segment']),
}


def names(inventory):
    """Every namespace this inventory's lab would make: its hosts and its pods."""
    hosts = inventory['all']['children']['calico_nodes']['hosts']
    return set(hosts) | set(w.get('name') for item in hosts.values() if isinstance(item, dict)
                            for w in item.get('calico_workloads') or [] if isinstance(w, dict))


def netns_list():
    return set(line.split()[0] for line in subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True,
                                                          check=True).stdout.splitlines() if line.strip())


def run(case, directory):
    playbook, change = BATTERY[case][:2]
    inventory = copy.deepcopy(BASE)
    change(inventory)
    path = os.path.join(directory, re.sub(r'\W+', '-', case) + '.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump(inventory, handle)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    result = subprocess.run([PLAYBOOK, os.path.join(ROOT, 'playbooks', playbook), '-i', path], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    return inventory, result


@pytest.fixture(scope='module')
def refusals(tmp_path_factory):
    """All the battery's runs, three at a time (each is a whole ansible-playbook process)."""
    directory = str(tmp_path_factory.mktemp('inventories'))
    before = netns_list()
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(BATTERY, pool.map(lambda case: run(case, directory), BATTERY)))
    yield before, results
    # An inventory that was not refused made its lab: take it down again.
    for case, (inventory, _result) in results.items():
        if names(inventory) & netns_list():
            env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
            subprocess.run([PLAYBOOK, os.path.join(ROOT, 'playbooks', 'teardown.yml'), '-i',
                            os.path.join(directory, re.sub(r'\W+', '-', case) + '.yml')], cwd=ROOT, env=env,
                           capture_output=True, timeout=300, check=False)


def test_battery_is_large_enough():
    assert len(BATTERY) >= 25


@pytest.mark.parametrize('case', list(BATTERY))
def test_wrong_inventory_refused_in_the_first_play_and_nothing_made(refusals, case):
    before, results = refusals
    inventory, result = results[case]
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert 'nothing was changed' in output or 'lab inventory:' in output, output[-3000:]
    for piece in BATTERY[case][2]:
        assert piece in output, (piece, output[-3000:])
    # The first play stopped it: no other play began, only localhost ran a task.
    assert re.findall(r'^PLAY \[(.*?)\]', output, re.M) == ['Lab hosts'], output[-3000:]
    assert re.findall(r'^(\S+)\s+: ok=', output, re.M) == ['localhost'], output[-3000:]
    # Not one of the namespaces this inventory names exists (and none did before).
    assert not names(inventory) & (before | netns_list())


def test_missing_command_is_named_with_its_package_before_anything_is_made(tmp_path):
    """The netns provider's preflight: this machine without nsenter (a PATH that has every other command
    the VXLAN run needs) stops the play before any namespace is made, naming nsenter and util-linux."""
    fake_bin = tmp_path / 'bin'
    fake_bin.mkdir()
    for tool in ('which', 'id', 'ip', 'bridge'):
        found = subprocess.run(['which', tool], capture_output=True, text=True, env={'PATH': os.environ['PATH'] +
                               ':/usr/sbin:/sbin'}, check=False).stdout.strip()
        os.symlink(found, str(fake_bin / tool))
    inventory = copy.deepcopy(BASE)
    path = str(tmp_path / 'hosts.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump(inventory, handle)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               PATH=str(fake_bin))
    before = netns_list()
    try:
        result = subprocess.run([PLAYBOOK, os.path.join(ROOT, 'playbooks', 'vxlan.yml'), '-i', path], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=300, check=False)
    finally:
        if names(inventory) & (netns_list() - before):   # the preflight let it through: take down what it made
            subprocess.run([PLAYBOOK, os.path.join(ROOT, 'playbooks', 'teardown.yml'), '-i', path], cwd=ROOT,
                           env=dict(env, PATH=os.environ['PATH']), capture_output=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert 'the command nsenter, not on PATH (apt-get install util-linux)' in output, output[-3000:]
    assert 'Nothing was changed' in output
    assert not names(inventory) & (before | netns_list())

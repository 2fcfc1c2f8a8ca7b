"""calico_lab_provider: docker - the containers, networks and routes computed from a plan, the
refusals that come before anything changes, and the kernel check for the tunnel modes."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.labnet.calico.plugins.filter import calico_provider as provider
from ansible_collections.labnet.calico.plugins.filter.calico_docker import calico_docker_lab, calico_docker_state


def host(address, dev='eth0'):
    ip, prefix = address.split('/')
    import ipaddress
    return {'underlay_dev': dev, 'node_address': address, 'node_ip': ip,
            'subnet': str(ipaddress.ip_interface(address).network)}


SEEDS = {'host-a': host('172.16.91.201/24'), 'host-b': host('172.16.91.202/24')}


def test_seeds_lab_is_one_internal_network_and_two_labelled_containers():
    layout = calico_docker_lab(SEEDS, ['host-a', 'host-b'], 'seeds')
    assert layout['networks'] == [{'name': 'seeds-172.16.91.0-24', 'subnet': '172.16.91.0/24',
                                   'gateway': '172.16.91.254'}]
    assert [(c['name'], c['hostname'], c['networks']) for c in layout['containers']] == [
        ('host-a', 'host-a', [{'name': 'seeds-172.16.91.0-24', 'ipv4_address': '172.16.91.201'}]),
        ('host-b', 'host-b', [{'name': 'seeds-172.16.91.0-24', 'ipv4_address': '172.16.91.202'}])]
    labels = dict(layout['containers'][0]['labels'])
    assert len(labels.pop('labnet.calico.spec')) == 12
    assert labels == {'labnet.calico.lab': 'seeds', 'labnet.calico.role': 'host', 'labnet.calico.host': 'host-a'}
    argv = layout['containers'][0]['create_argv']
    assert argv[:2] == ['docker', 'create'] and '--privileged' not in argv
    assert argv[argv.index('--ip') + 1] == '172.16.91.201' and argv[-3:] == ['labnet-calico/host', 'sleep', 'infinity']
    assert layout['routes'] == {} and layout['labels'] == {'labnet.calico.lab': 'seeds'}


def test_two_subnets_get_a_router_on_both_and_default_routes_through_it():
    plan = {'node-1': host('192.168.81.11/24'), 'node-2': host('192.168.81.12/24'), 'node-3': host('192.168.82.13/24')}
    layout = calico_docker_lab(plan, ['node-1', 'node-2', 'node-3'], 'two')
    assert [n['name'] for n in layout['networks']] == ['two-192.168.81.0-24', 'two-192.168.82.0-24']
    router = layout['containers'][-1]
    assert (router['name'], router['role']) == ('two-router', 'router')
    assert [n['ipv4_address'] for n in router['networks']] == ['192.168.81.1', '192.168.82.1']
    assert layout['routes'] == {'node-1': '192.168.81.1', 'node-2': '192.168.81.1', 'node-3': '192.168.82.1'}


@pytest.mark.parametrize('plan, hosts, lab, words', [
    ({'host-a': host('172.16.91.201/24', dev='ens3')}, ['host-a'], 'lab', ['host-a', 'calico_underlay_dev', 'ens3']),
    ({'host-a': host('172.16.91.254/24')}, ['host-a'], 'lab', ['host-a', '172.16.91.254/24', 'gateway']),
    ({'host-a': host('172.16.91.1/30')}, ['host-a'], 'lab', ['host-a', '172.16.91.1/30', '8 addresses']),
    ({'a': host('10.1.0.1/24'), 'b': host('10.2.0.5/24')}, ['a', 'b'], 'lab', ['a', '10.1.0.1/24', 'router']),
    ({'host_a!': host('172.16.91.201/24')}, ['host_a!'], 'lab', ['host_a!', 'Docker name']),
    (SEEDS, ['host-a'], 'bad lab', ['docker_hosts_lab', 'bad lab']),
])
def test_bad_input_is_refused_naming_host_field_and_value(plan, hosts, lab, words):
    with pytest.raises(AnsibleFilterError) as error:
        calico_docker_lab(plan, hosts, lab)
    for word in words:
        assert word in str(error.value)


def test_docker_refuses_a_tunnel_mode_whose_driver_this_kernel_lacks(tmp_path):
    (tmp_path / 'sys').mkdir()
    (tmp_path / 'sys' / 'vxlan').mkdir()
    (tmp_path / 'mod').mkdir()
    kernel = {'sys_module': str(tmp_path / 'sys'), 'modules_dir': str(tmp_path / 'mod')}
    why = provider.mode_refusal('docker', 'ipip', **kernel)
    assert 'no ipip driver' in why and 'calico_lab_provider: qemu' in why
    assert provider.mode_refusal('docker', 'vxlan', **kernel) == ''
    assert provider.mode_refusal('docker', 'bgp', **kernel) == ''
    assert provider.mode_refusal('netns', 'ipip', **kernel) == ''


def test_a_container_counts_as_running_only_when_the_engine_says_so(tmp_path):
    fake = tmp_path / 'docker'
    fake.write_text('#!/bin/sh\n[ "$5" = host-a ] && echo true && exit 0\necho "No such container: $5" >&2; exit 1\n')
    fake.chmod(0o755)
    assert provider.docker_container_running('host-a', docker=str(fake))
    assert not provider.docker_container_running('host-b', docker=str(fake))
    assert not provider.docker_container_running('host-a', docker=str(tmp_path / 'missing'))


def test_state_names_what_to_remove_create_and_start():
    layout = calico_docker_lab(SEEDS, ['host-a', 'host-b'], 'seeds', image='img:1')
    spec = layout['containers'][0]['labels']['labnet.calico.spec']
    inspected = [{'Name': '/host-a', 'Config': {'Labels': {'labnet.calico.lab': 'seeds', 'labnet.calico.spec': spec}},
                  'State': {'Running': False}}]
    state = calico_docker_state(layout, inspected)
    assert (state['stale'], [c['name'] for c in state['missing']], state['stopped']) == ([], ['host-b'], ['host-a'])
    newer = calico_docker_lab(SEEDS, ['host-a', 'host-b'], 'seeds', image='img:2')
    state = calico_docker_state(newer, inspected)
    assert (state['stale'], [c['name'] for c in state['missing']], state['stopped']) == (['host-a'], ['host-a', 'host-b'], [])


def test_a_container_of_another_lab_or_none_is_left_alone():
    layout = calico_docker_lab(SEEDS, ['host-a'], 'seeds')
    with pytest.raises(AnsibleFilterError) as error:
        calico_docker_state(layout, [{'Name': '/host-a', 'Config': {'Labels': {}}, 'State': {'Running': True}}])
    assert 'host-a' in str(error.value) and 'leaves it alone' in str(error.value)

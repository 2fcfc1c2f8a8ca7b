"""The qemu provider's planner (roles/qemu_hosts/files/qemu_lab.py) on the inventories' VMs, IPv6
underlay included (issue 13): what each VM's kernel command line carries, and what is refused before
any VM starts. The planner only reads pidfiles and binds a 127.0.0.1 port to see that it is free."""
import importlib.util
import os
import shutil
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location('qemu_lab', os.path.join(ROOT, 'roles', 'qemu_hosts', 'files', 'qemu_lab.py'))
qemu_lab = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(qemu_lab)

# Ports of the test's own, away from the inventories' 2221-2224 (VMs may run there meanwhile).
PORTS = {'host-a': 47221, 'host-b': 47222, 'host-c': 47223, 'router': 47224}


def vm(name, address, address_v6=None, role='node', **extra):
    return dict({'name': name, 'role': role, 'addresses': [address] if role == 'node' else address,
                 'address_v6': address_v6, 'port': PORTS[name]}, **extra)


@pytest.fixture
def tmp_path():
    """A short run directory: pytest's own tmp_path (deeper under xdist, as ansible-test units runs it) makes
    the segments' unix socket paths longer than the kernel's 108 bytes, which the planner refuses."""
    path = tempfile.mkdtemp(prefix='qlp', dir='/tmp')
    yield path
    shutil.rmtree(path)


def plan(tmp_path, vms):
    return qemu_lab.plan({'mode': 'create', 'run_dir': str(tmp_path), 'image': {'id': 'test', 'kernel': 'k', 'initrd': 'i'},
                          'pubkey': 'ssh-ed25519 AAAAkey labnet', 'kernel_args': 'mitigations=off',
                          'mgmt': {'net': '10.0.2.0/24', 'host': '10.0.2.2', 'guest': '10.0.2.15'}, 'vms': vms})


def labnet_args(out, name):
    argv = [v for v in out['vms'] if v['name'] == name][0]['argv']
    return [word for word in argv[argv.index('-append') + 1].split() if word.startswith('labnet.')]


def test_ipv4_only_vms_boot_as_before(tmp_path):
    out = plan(tmp_path, [vm('host-a', '172.16.91.201/24'), vm('host-b', '172.16.91.202/24')])
    assert labnet_args(out, 'host-a') == ['labnet.if=eth0,172.16.91.201/24', 'labnet.mgmt=eth1,10.0.2.15/24',
                                          'labnet.gwdev=eth0', 'labnet.sshkey=ssh-ed25519,AAAAkey']
    assert out['summary'][0] == 'host-a: start, ssh 127.0.0.1:47221, eth0 172.16.91.201/24 [172.16.91.0_24], eth1 10.0.2.15/24 [mgmt]'


def test_dual_stack_vms_get_their_ipv6_underlay_address(tmp_path):
    out = plan(tmp_path, [vm('host-a', '172.16.91.201/24', 'fd00:91::201/64'),
                          vm('host-b', '172.16.91.202/24', 'fd00:91::202')])   # no prefix: a /64
    assert labnet_args(out, 'host-a')[:2] == ['labnet.if=eth0,172.16.91.201/24', 'labnet.if6=eth0,fd00:91::201/64']
    assert labnet_args(out, 'host-b')[:2] == ['labnet.if=eth0,172.16.91.202/24', 'labnet.if6=eth0,fd00:91::202/64']
    assert 'eth0 172.16.91.202/24 fd00:91::202/64 [172.16.91.0_24]' in out['summary'][1]


def test_a_vm_without_ipv6_beside_one_with_it(tmp_path):
    out = plan(tmp_path, [vm('host-a', '172.16.91.201/24', 'fd00:91::201/64'), vm('host-b', '172.16.91.202/24')])
    assert not [word for word in labnet_args(out, 'host-b') if word.startswith('labnet.if6=')]


@pytest.mark.parametrize('address_v6, why', [
    ('fe80::1/64', 'is not a global or unique-local IPv6 address'),
    ('172.16.91.201/24', 'is not a global or unique-local IPv6 address'),
    ('ff02::1', 'is not a global or unique-local IPv6 address'),
    ('fd00:91::zz', 'is not a global or unique-local IPv6 address'),
])
def test_bad_ipv6_addresses_are_refused(tmp_path, address_v6, why):
    with pytest.raises(qemu_lab.PlanError, match='host-a \\(calico_node_address_v6\\): .*' + why):
        plan(tmp_path, [vm('host-a', '172.16.91.201/24', address_v6), vm('host-b', '172.16.91.202/24')])


def test_ipv6_across_two_subnets_is_refused(tmp_path):
    with pytest.raises(qemu_lab.PlanError, match='2 segments or IPv6 subnets .* no IPv6 router'):
        plan(tmp_path, [vm('host-a', '172.16.91.201/24', 'fd00:91::201/64'),
                        vm('host-b', '172.16.91.202/24', 'fd00:92::202/64')])


def test_ipv6_across_segments_through_the_router_vm_is_refused(tmp_path):
    with pytest.raises(qemu_lab.PlanError, match='host-a: fd00:91::/64 in 172.16.91.0_24; host-c: fd00:91::/64 in 172.16.92.0_24'):
        plan(tmp_path, [vm('router', ['172.16.91.1/24', '172.16.92.1/24'], role='router'),
                        vm('host-a', '172.16.91.201/24', 'fd00:91::201/64'), vm('host-b', '172.16.91.202/24'),
                        vm('host-c', '172.16.92.203/24', 'fd00:91::203/64')])


def test_an_ipv6_gateway_is_refused(tmp_path):
    with pytest.raises(qemu_lab.PlanError, match='host-a: calico_underlay_gateway_v6 is fd00:91::1 but the qemu provider has no IPv6 router'):
        plan(tmp_path, [vm('host-a', '172.16.91.201/24', 'fd00:91::201/64', gateway_v6='fd00:91::1'),
                        vm('host-b', '172.16.91.202/24', 'fd00:91::202/64')])

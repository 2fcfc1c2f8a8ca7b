"""BIRD for IPv6 on a real kernel: two host namespaces joined by a veth (IPv4 and IPv6 on it, no
switch), each running the lab's BIRD through the bird role (playbooks/bird_only.yml, process mode as on
the netns provider) for a dual-stack inventory. The IPv6 sessions come up Established between the v6
addresses, each host learns the other's v6 block proto bird via the peer's v6 address, the verify
role's report passes; a rerun changes nothing, a crash keeps the v6 routes (persist) and the next run
recovers, and a stop withdraws both families at once. Nothing here touches the root namespace."""

import os
import shutil
import signal
import time

import pytest
import yaml

from labtest import BIN, ROOT, ansible_env, assert_play, ip, ip_json, netns_list, new_suffix, run

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason='needs root'),
              pytest.mark.skipif(not shutil.which('bird'), reason='needs bird (apt-get install bird2)')]

PLAY = os.path.join(ROOT, 'tests', 'integration', 'playbooks', 'bird_only.yml')
V4 = '172.31.252.%d'
V6 = 'fd00:252::%d'


@pytest.fixture
def hosts(tmp_path):
    """Two host namespaces with eth0 between them (172.31.252.1-2/24, fd00:252::1-2/64 nodad) and
    their inventory; the namespaces and BIRD's run directories removed afterwards by exact name."""
    suffix = new_suffix()
    names = ['b6a-' + suffix, 'b6b-' + suffix]
    inventory = {'all': {'children': {'calico_nodes': {
        'hosts': dict((name, {'calico_node_address': V4 % index + '/24', 'calico_node_address_v6': V6 % index + '/64'})
                      for index, name in enumerate(names, 1)),
        'vars': {'calico_lab_provider': 'netns', 'calico_mode': 'bgp', 'calico_ipam_pool': '10.77.0.0/16',
                 'calico_ipam_pool_v6': 'fd00:10:77::/48'}}}}}
    path = tmp_path / 'hosts.yml'
    path.write_text(yaml.safe_dump(inventory))
    try:
        for name in names:
            ip('netns', 'add', name)
        ip('-n', names[0], 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', names[1])
        for index, name in enumerate(names, 1):
            run(['ip', 'netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=0'], check=True)
            ip('-n', name, 'addr', 'add', V4 % index + '/24', 'dev', 'eth0')
            ip('-n', name, '-6', 'addr', 'add', V6 % index + '/64', 'dev', 'eth0', 'nodad')
            for dev in ('lo', 'eth0'):
                ip('-n', name, 'link', 'set', dev, 'up')
        yield names, str(path)
    finally:
        for name in names:
            run_dir = '/run/labnet-calico-bird-' + name
            pid_file = os.path.join(run_dir, 'bird.pid')
            if os.path.exists(pid_file):
                run(['kill', open(pid_file).read().strip()], timeout=10)
            run(['rm', '-rf', run_dir], timeout=10)
            if name in netns_list():
                ip('netns', 'del', name, check=False)


def play(inventory, routing='bird'):
    return run([os.path.join(BIN, 'ansible-playbook'), '-v', PLAY, '-i', inventory, '-e', 'calico_routing=' + routing],
               cwd=ROOT, env=ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT='json'), timeout=240)


def bird_routes(host, family):
    return dict((r['dst'], r) for r in ip_json('-n', host, family, 'route', 'show', 'proto', 'bird'))


def wait_for(condition, seconds):
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.25)
    return condition()


def test_bird_v6_sessions_routes_report_rerun_crash_and_stop(hosts):
    (a, b), inventory = hosts
    output = assert_play(play(inventory), [a, b])
    for host in (a, b):
        assert '%s: 2/2 BGP sessions Established (IPv6 1/1), 2/2 peer blocks learned (proto bird; IPv6 1/1)' \
            % host in output, output[-3000:]
    protocols = run(['ip', 'netns', 'exec', a, 'birdc', '-s', '/run/labnet-calico-bird-%s/bird.ctl' % a,
                     'show', 'protocols'], check=True, timeout=10).stdout
    assert any(line.startswith('Mesh_fd00_252__2 ') and 'Established' in line for line in protocols.splitlines())

    # As Calico programs it in BGP mode: the peer's v6 block via its v6 address on the underlay, the own
    # v6 block a blackhole - proto bird both.
    v6_a, v6_b = bird_routes(a, '-6'), bird_routes(b, '-6')
    (own_a,) = [dst for dst, r in v6_a.items() if r.get('type') == 'blackhole']
    (own_b,) = [dst for dst, r in v6_b.items() if r.get('type') == 'blackhole']
    assert (v6_a[own_b]['gateway'], v6_a[own_b]['dev']) == (V6 % 2, 'eth0')
    assert (v6_b[own_a]['gateway'], v6_b[own_a]['dev']) == (V6 % 1, 'eth0')

    assert_play(play(inventory), [a, b], changed=0)

    # A crash keeps the v6 routes (persist) on the host; the next run recovers with bird -R.
    os.kill(int(open('/run/labnet-calico-bird-%s/bird.pid' % a).read().strip()), signal.SIGKILL)
    assert wait_for(lambda: not os.path.exists('/proc/%s' % open('/run/labnet-calico-bird-%s/bird.pid' % a).read().strip()), 5)
    assert set(bird_routes(a, '-6')) == {own_a, own_b}
    recovered = assert_play(play(inventory), [a, b])
    assert 'recovered after a crash' in recovered

    # A stop withdraws both families at once: nothing proto bird left on either host.
    assert_play(play(inventory, 'static'), [a, b])
    for host in (a, b):
        assert bird_routes(host, '-4') == {} and bird_routes(host, '-6') == {}
    assert not os.path.exists('/run/labnet-calico-bird-' + a)

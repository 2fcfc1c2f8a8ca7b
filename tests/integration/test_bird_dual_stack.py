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


def make_hosts(tmp_path, count, reflectors, made):
    """COUNT host namespaces on one segment (a veth between two; a bridge in a switch namespace for
    more), 172.31.252.<i>/24 and fd00:252::<i>/64 (nodad) on eth0, and their inventory; each namespace
    is put in MADE before it is created. Returns (names, inventory path)."""
    suffix = new_suffix()
    names = ['b6%s-%s' % ('abcdefgh'[index], suffix) for index in range(count)]
    hosts = dict((name, {'calico_node_address': V4 % index + '/24', 'calico_node_address_v6': V6 % index + '/64'})
                 for index, name in enumerate(names, 1))
    lab_vars = {'calico_lab_provider': 'netns', 'calico_mode': 'bgp', 'calico_ipam_pool': '10.77.0.0/16',
                'calico_ipam_pool_v6': 'fd00:10:77::/48', 'calico_route_reflectors': [names[i] for i in reflectors]}
    path = tmp_path / 'hosts.yml'
    path.write_text(yaml.safe_dump({'all': {'children': {'calico_nodes': {'hosts': hosts, 'vars': lab_vars}}}}))
    for name in names:
        made.append(name)
        ip('netns', 'add', name)
    if count == 2:
        ip('-n', names[0], 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', names[1])
    else:
        switch = 'b6sw-' + suffix
        made.append(switch)
        ip('netns', 'add', switch)
        ip('-n', switch, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0')
        ip('-n', switch, 'link', 'set', 'br0', 'up')
        for index, name in enumerate(names):
            port = 'p%d' % index
            ip('-n', switch, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name)
            ip('-n', switch, 'link', 'set', port, 'master', 'br0', 'up')
    for index, name in enumerate(names, 1):
        run(['ip', 'netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=0'], check=True)
        ip('-n', name, 'addr', 'add', V4 % index + '/24', 'dev', 'eth0')
        ip('-n', name, '-6', 'addr', 'add', V6 % index + '/64', 'dev', 'eth0', 'nodad')
        for dev in ('lo', 'eth0'):
            ip('-n', name, 'link', 'set', dev, 'up')
    return names, str(path)


def remove_hosts(made):
    for name in made:
        run_dir = '/run/labnet-calico-bird-' + name
        pid_file = os.path.join(run_dir, 'bird.pid')
        if os.path.exists(pid_file):
            run(['kill', open(pid_file).read().strip()], timeout=10)
        run(['rm', '-rf', run_dir], timeout=10)
        if name in netns_list():
            ip('netns', 'del', name, check=False)


@pytest.fixture
def lab(tmp_path):
    """make_hosts, and everything it made removed afterwards by exact name."""
    made = []

    def make(count, reflectors=()):
        return make_hosts(tmp_path, count, reflectors, made)
    try:
        yield make
    finally:
        remove_hosts(made)


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


def test_bird_v6_sessions_routes_report_rerun_crash_and_stop(lab):
    (a, b), inventory = lab(2)
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


def test_bird_v6_through_a_route_reflector(lab):
    """A reflector (the first host) and two clients: the clients peer over IPv6 only with the reflector
    (Node_<ip6>), and learn each other's v6 block from it with the origin's v6 address as next hop."""
    (rr, c1, c2), inventory = lab(3, reflectors=(0,))
    output = assert_play(play(inventory), [rr, c1, c2])
    assert '%s: 2/2 BGP sessions Established (IPv6 1/1), 4/4 peer blocks learned (proto bird; IPv6 2/2)' \
        % c1 in output, output[-3000:]
    protocols = run(['ip', 'netns', 'exec', c1, 'birdc', '-s', '/run/labnet-calico-bird-%s/bird.ctl' % c1,
                     'show', 'protocols'], check=True, timeout=10).stdout
    assert [line.split()[0] for line in protocols.splitlines() if ' BGP ' in line] == [
        'Node_172_31_252_1', 'Node_fd00_252__1']
    (own_c2,) = [dst for dst, r in bird_routes(c2, '-6').items() if r.get('type') == 'blackhole']
    assert bird_routes(c1, '-6')[own_c2]['gateway'] == V6 % 3   # c2's address, not the reflector's
    assert_play(play(inventory, 'static'), [rr, c1, c2])
    assert all(bird_routes(host, '-6') == {} for host in (rr, c1, c2))

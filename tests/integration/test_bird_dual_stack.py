"""BIRD for IPv6 on a real kernel: two host namespaces joined by a veth (IPv4 and IPv6 on it, no
switch), each running the lab's BIRD (calico_bird, process mode) with the configuration the bird role
renders for a dual-stack plan. The IPv6 sessions come up Established between the v6 addresses, each
host learns the other's v6 block proto bird via the peer's v6 address, calico_bird_report passes on
what BIRD and the kernel say; a crash keeps the v6 routes (persist) and a clean stop withdraws them.
Nothing here touches the root namespace."""

import ipaddress
import json
import os
import shutil
import signal
import time

import jinja2
import pytest

from ansible_collections.labnet.calico.plugins.filter import calico_bird, calico_lab
from labtest import BIN, ROOT, adhoc_result, ansible_env, assert_module, ip, ip_json, netns_list, new_suffix, run

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason='needs root'),
              pytest.mark.skipif(not shutil.which('bird'), reason='needs bird (apt-get install bird2)')]

TEMPLATE = os.path.join(ROOT, 'roles', 'bird', 'templates', 'bird.conf.j2')
V4 = '172.31.252.%d'
V6 = 'fd00:252::%d'


def dual_stack_plan(hosts):
    """The lab plan of two BGP hosts, with the dual-stack contract's v6 keys (docs/dual-stack.md)."""
    hostvars = dict((host, {'calico_node_address': V4 % index + '/24'}) for index, host in enumerate(hosts, 1))
    plan = calico_lab.calico_lab_plan(hostvars, hosts, pool='10.77.0.0/16', mode='bgp')
    blocks = ipaddress.ip_network('fd00:10:77::/48').subnets(new_prefix=122)
    v6 = dict((host, {'node_ip_v6': V6 % index, 'node_address_v6': V6 % index + '/64', 'subnet_v6': 'fd00:252::/64',
                      'block_v6': str(next(blocks))}) for index, host in enumerate(hosts, 1))
    for host, me in plan.items():
        me.update(v6[host])
        for peer in me['peers']:
            peer.update(node_ip_v6=v6[peer['name']]['node_ip_v6'], block_v6=v6[peer['name']]['block_v6'],
                        same_subnet_v6=True, encapsulate_v6=False)
    return plan


def render(plan, host, run_dir):
    """The bird role's template, with the role's default timers (roles/bird/defaults/main.yml)."""
    environment = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    with open(TEMPLATE) as handle:
        template = environment.from_string(handle.read())
    return template.render(inventory_hostname=host, calico_route_reflectors=[], calico_bird_daemon='process',
                           calico_bird_run_dir=run_dir, calico_bird_connect_retry=3, calico_bird_hold_time=30,
                           calico_bird_keepalive_time=10, calico_bird_settings=calico_bird.bird_config(plan, host))


@pytest.fixture
def hosts():
    """Two host namespaces with eth0 between them: 172.31.252.1-2/24 and fd00:252::1-2/64 (nodad)."""
    suffix = new_suffix()
    names = ['b6a-' + suffix, 'b6b-' + suffix]
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
        yield names
    finally:
        for name in names:
            run_dir = '/run/labnet-calico-bird-' + name
            pid_file = os.path.join(run_dir, 'bird.pid')
            if os.path.exists(pid_file):
                run(['kill', open(pid_file).read().strip()], timeout=10)
            run(['rm', '-rf', run_dir], timeout=10)
            if name in netns_list():
                ip('netns', 'del', name, check=False)


def bird(host, **args):
    """calico_bird ad hoc inside HOST's namespace (process mode, the bird role's paths)."""
    run_dir = '/run/labnet-calico-bird-' + host
    args = dict({'daemon': 'process', 'config_path': run_dir + '/bird.conf', 'socket': run_dir + '/bird.ctl',
                 'pid_file': run_dir + '/bird.pid'}, **args)
    argv = ['nsenter', '--net=/run/netns/' + host, os.path.join(BIN, 'ansible'), 'localhost', '-c', 'local',
            '-m', 'labnet.calico.calico_bird', '-a', json.dumps(args),
            '-e', 'ansible_python_interpreter=' + os.path.join(BIN, 'python')]
    env = ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='oneline',
                      ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    return assert_module(adhoc_result(run(argv, cwd=ROOT, env=env, timeout=150)))


def bird_routes(host, family):
    return dict((r['dst'], r) for r in ip_json('-n', host, family, 'route', 'show', 'proto', 'bird'))


def wait_for(condition, seconds):
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.25)
    return condition()


def test_bird_v6_sessions_routes_report_crash_and_stop(hosts):
    a, b = hosts
    plan = dual_stack_plan(hosts)
    settings = dict((h, calico_bird.bird_config(plan, h)) for h in hosts)
    for host in hosts:
        started = bird(host, config=render(plan, host, '/run/labnet-calico-bird-' + host))
        assert started['changed'] and started['actions'] == ['started']
    for host in hosts:
        # Both families, in one bounded wait (the bird role's second task).
        waited = bird(host, state='established', wait_sessions=settings[host]['sessions'], wait_timeout=60,
                      wait_routes=settings[host]['peer_blocks'] + settings[host]['peer_blocks_v6'])
        assert not waited['changed']
    assert [s['name'] for s in settings[a]['sessions']] == ['Mesh_172_31_252_2', 'Mesh_fd00_252__2']

    # The kernel, as Calico programs it in BGP mode: the peer's v6 block via its v6 address on the
    # underlay, the own v6 block a blackhole - proto bird both.
    v6 = bird_routes(a, '-6')
    learned = v6[plan[b]['block_v6']]
    assert (learned['gateway'], learned['dev']) == (V6 % 2, 'eth0')
    assert v6[plan[a]['block_v6']]['type'] == 'blackhole'

    # The verify role's report on what BIRD and the kernel say (the status tasks' two reads, joined).
    protocols, routes = {}, {}
    for host in hosts:
        protocols[host] = run(['ip', 'netns', 'exec', host, 'birdc', '-s', '/run/labnet-calico-bird-%s/bird.ctl' % host,
                               'show', 'protocols'], check=True, timeout=10).stdout
        routes[host] = json.dumps(list(bird_routes(host, '-4').values()) + list(bird_routes(host, '-6').values()))
    report = calico_bird.bird_report(plan, protocols, routes)
    assert report['failures'] == []
    assert report['lines'] == ['%s: 2/2 BGP sessions Established (IPv6 1/1), 2/2 peer blocks learned '
                               '(proto bird; IPv6 1/1)' % host for host in hosts]

    rerun = bird(a, config=render(plan, a, '/run/labnet-calico-bird-' + a))
    assert not rerun['changed'] and rerun['actions'] == []

    # A crash keeps the v6 routes (persist) on the host; the next run recovers with bird -R.
    os.kill(int(open('/run/labnet-calico-bird-%s/bird.pid' % a).read().strip()), signal.SIGKILL)
    time.sleep(1)
    assert plan[b]['block_v6'] in bird_routes(a, '-6') and plan[a]['block_v6'] in bird_routes(a, '-6')
    recovered = bird(a, config=render(plan, a, '/run/labnet-calico-bird-' + a))
    assert recovered['actions'] == ['recovered after a crash', 'started']
    bird(a, state='established', wait_sessions=settings[a]['sessions'], wait_timeout=60,
         wait_routes=settings[a]['peer_blocks'] + settings[a]['peer_blocks_v6'])

    # A clean stop withdraws both families at once: nothing proto bird left on a, and b loses a's blocks.
    stopped = bird(a, state='absent')
    assert stopped['actions'] == ['stopped']
    assert bird_routes(a, '-4') == {} and bird_routes(a, '-6') == {}
    assert wait_for(lambda: plan[a]['block_v6'] not in bird_routes(b, '-6')
                    and plan[a]['block'] not in bird_routes(b, '-4'), 10)
    bird(b, state='absent')
    assert bird_routes(b, '-4') == {} and bird_routes(b, '-6') == {}

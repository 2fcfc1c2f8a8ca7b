"""The modules for real, as root, in throw-away namespaces: create, rerun, drift, check mode, absent.

A "host" namespace stands for the lab host; ansible runs inside it (nsenter --net), so the modules
see it as their own namespace. Nothing here touches the root namespace.
"""

import json
import os
import shutil
import subprocess
import time

import pytest

from ansible_collections.labnet.calico.plugins.filter import calico_lab
from labtest import BIN, ROOT, adhoc_result, ansible_env, assert_module, assert_play, ip, ip_json, netns_list, new_suffix, run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')


@pytest.fixture
def lab():
    """A host namespace with an underlay veth (default route out of it); names of its own, and every
    namespace the test says it made (lab['made']) removed afterwards by exact name."""
    prefix = 't' + new_suffix()
    host = prefix + 'h'
    made = [host]
    ip('netns', 'add', host)
    ip('-n', host, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1')
    for dev in ('lo', 'eth0', 'eth1'):
        ip('-n', host, 'link', 'set', dev, 'up')
    ip('-n', host, 'addr', 'add', '172.31.250.1/24', 'dev', 'eth0')
    ip('-n', host, 'route', 'add', 'default', 'dev', 'eth0')
    try:
        yield {'prefix': prefix, 'host': host, 'made': made}
    finally:
        existing = netns_list()
        for name in made:
            if name in existing:
                ip('netns', 'del', name, check=False)


def pods(lab, *names):
    """Pod namespace names of this test (recorded for cleanup)."""
    found = [lab['prefix'] + n for n in names]
    lab['made'].extend(found)
    return found[0] if len(found) == 1 else found


def module(lab, name, args, check=False, diff=False, expect_failure=False):
    """Run a module ad hoc inside the host namespace; fails the test unless the run succeeded (rc 0,
    not failed), or, with expect_failure, unless it failed."""
    # The oneline callback prints no diff; the default one prints it as a user sees it.
    env = ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='default' if diff else 'oneline',
                      ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    argv = ['nsenter', '--net=/run/netns/' + lab['host'], os.path.join(BIN, 'ansible'), 'localhost', '-c', 'local',
            '-m', 'labnet.calico.' + name, '-a', json.dumps(args),
            '-e', 'ansible_python_interpreter=' + os.path.join(BIN, 'python')] \
        + (['--check'] if check else []) + (['--diff'] if diff else [])
    proc = run(argv, cwd=ROOT, env=env, timeout=120)
    result = assert_module(adhoc_result(proc), expect_failure)
    result['_output'] = proc.stdout
    return result


def state(lab):
    """Everything the modules could change: the test's namespaces, the host's links, routes and sysctls."""
    host = lab['host']
    sysctls = run(['ip', 'netns', 'exec', host, 'sysctl', '-a'], timeout=30).stdout
    # IPv4 only: IPv6 link-local addresses and routes come and go by themselves as links come up.
    return {'netns': [n for n in netns_list() if n.startswith(lab['prefix'])],
            'links': ip('-n', host, '-d', 'link'),
            'addresses': ip('-n', host, '-4', 'addr'), 'routes': ip('-n', host, '-4', 'route', 'show', 'table', 'all'),
            'sysctls': sorted(l for l in sysctls.splitlines() if 'conf' in l or 'forward' in l or 'neigh' in l)}


def test_veth_create_rerun_drift_checkmode_absent(lab):
    pod = pods(lab, 'p1')
    args = {'workload': pod, 'address': '10.77.0.2', 'mtu': 1480}
    before = state(lab)
    assert module(lab, 'calico_veth', args, check=True)['changed']
    assert state(lab) == before                                 # check mode leaves nothing
    assert module(lab, 'calico_veth', args)['changed']
    cali = module(lab, 'calico_veth', args)['workloads'][0]['host_ifname']
    assert not module(lab, 'calico_veth', args)['changed']      # idempotent
    link = json.loads(ip('-n', lab['host'], '-j', '-d', 'link', 'show', cali))[0]
    assert link['address'] == 'ee:ee:ee:ee:ee:ee' and link['mtu'] == 1480 and 'UP' in link['flags']
    assert '10.77.0.2/32' in ip('-n', pod, 'addr', 'show', 'eth0')
    ip('-n', lab['host'], 'link', 'set', cali, 'down')           # drift
    ip('-n', pod, 'addr', 'add', '10.77.0.9/32', 'dev', 'eth0')
    result = module(lab, 'calico_veth', args)
    assert result['changed'] and 'UP' in ip('-n', lab['host'], 'link', 'show', cali)
    assert '10.77.0.9' not in ip('-n', pod, 'addr', 'show', 'eth0')
    assert module(lab, 'calico_veth', dict(args, state='absent', delete_netns=True))['changed']
    assert cali not in ip('-n', lab['host'], 'link') and pod not in netns_list()


def sysctl(netns, key):
    return run(['ip', 'netns', 'exec', netns, 'sysctl', '-n', key], timeout=30).stdout.strip()


def test_veth_folds_host_end_sysctls_pod_routes_and_gateway_neighbour(lab):
    """One calico_veth run does what proxy_arp, calico_route and calico_neigh did for the pods (issue 19),
    with drift repair, purge of stale pod routes, check mode and IPv6."""
    host = lab['host']
    a, b = pods(lab, 'a', 'b')
    args = {'workloads': [{'workload': a, 'address': '10.77.0.2', 'address6': 'fd00:77::2'},
                          {'workload': b, 'address': '10.77.0.3'}],
            'host_end_sysctls': True, 'pod_routes': True, 'gateway_neighbour': True}
    cali_a, cali_b = calico_lab.host_ifname(a), calico_lab.host_ifname(b)
    before = state(lab)
    assert module(lab, 'calico_veth', args, check=True)['changed']
    assert state(lab) == before                                  # check mode leaves nothing
    result = module(lab, 'calico_veth', args)
    assert result['changed'] and result['purged_routes'] == []
    assert not module(lab, 'calico_veth', args)['changed']      # idempotent, every folded part included
    for cali in (cali_a, cali_b):
        assert [sysctl(host, 'net.ipv4.conf.%s.%s' % (cali, k)) for k in ('proxy_arp', 'forwarding', 'route_localnet')] \
            == ['1', '1', '1']
        assert sysctl(host, 'net.ipv4.neigh.%s.proxy_delay' % cali) == '0'
        assert sysctl(host, 'net.ipv6.conf.%s.accept_ra' % cali) == '0'
    assert sysctl(host, 'net.ipv6.conf.%s.proxy_ndp' % cali_a) == '1'   # IPv6 ones only for the pod with IPv6
    assert sysctl(host, 'net.ipv6.conf.%s.proxy_ndp' % cali_b) == '0'
    assert '10.77.0.2 dev %s proto 77 scope link' % cali_a in ip('-n', host, 'route')
    assert 'fd00:77::2 dev %s proto 77' % cali_a in ip('-n', host, '-6', 'route')
    assert 'default via 169.254.1.1 dev eth0 proto 77' in ip('-n', a, 'route')
    assert 'default via fe80::ecee:eeff:feee:eeee dev eth0 proto 77' in ip('-n', a, '-6', 'route')
    assert '169.254.1.1 lladdr ee:ee:ee:ee:ee:ee PERMANENT' in ip('-n', b, 'neigh', 'show', 'dev', 'eth0')

    # Drift: a wrong host-end sysctl, a deleted pod route, a downed host end (the kernel drops its routes),
    # a stale route of ours and a lost gateway neighbour.
    run(['ip', 'netns', 'exec', host, 'sysctl', '-q', '-w', 'net.ipv4.conf.%s.proxy_arp=0' % cali_b], timeout=30)
    ip('-n', a, 'route', 'del', 'default')
    ip('-n', host, 'link', 'set', cali_b, 'down')
    ip('-n', host, 'route', 'add', '10.77.9.0/24', 'dev', 'eth0', 'proto', '77')
    ip('-n', b, 'neigh', 'del', '169.254.1.1', 'dev', 'eth0')
    drifted = state(lab)
    assert module(lab, 'calico_veth', args, check=True)['changed'] and state(lab) == drifted
    result = module(lab, 'calico_veth', args)
    assert 'sysctl net.ipv4.conf.%s.proxy_arp=1' % cali_b in result['commands']
    assert result['purged_routes'] == ['10.77.9.0/24 dev eth0 scope link proto 77']
    assert sysctl(host, 'net.ipv4.conf.%s.proxy_arp' % cali_b) == '1'
    assert '10.77.0.3 dev %s proto 77 scope link' % cali_b in ip('-n', host, 'route')
    assert '10.77.9.0' not in ip('-n', host, 'route')
    assert 'default via 169.254.1.1 dev eth0 proto 77' in ip('-n', a, 'route')
    assert '169.254.1.1 lladdr ee:ee:ee:ee:ee:ee PERMANENT' in ip('-n', b, 'neigh', 'show', 'dev', 'eth0')
    assert not module(lab, 'calico_veth', args)['changed']
    ping = run(['ip', 'netns', 'exec', a, 'ping', '-c', '1', '-W', '2', '-w', '5', '10.77.0.3'], timeout=20)
    assert ping.returncode == 0, ping.stdout + ping.stderr

    # A pod dropped from the list: its pair goes (purge), and with it the routes through it.
    result = module(lab, 'calico_veth', dict(args, workloads=args['workloads'][:1], purge=True))
    assert result['purged'] == [b] and cali_b not in ip('-n', host, 'link')
    assert '10.77.0.3' not in ip('-n', host, 'route')


def test_veth_bad_input_changes_nothing(lab):
    a, b = pods(lab, 'a', 'b')
    before = state(lab)
    result = module(lab, 'calico_veth', {'workloads': [{'workload': a, 'address': '10.0.0.1'},
                                                       {'workload': b, 'host_ifname': 'x' * 16}]},
                    expect_failure=True)
    assert result['msg'].startswith('workloads[1].host_ifname:')
    assert state(lab) == before


def test_route_replace_purge_and_foreign_routes(lab):
    host = lab['host']
    ip('-n', host, 'route', 'add', '10.99.0.0/24', 'via', '172.31.250.9', 'proto', 'static')   # not ours
    routes = {'purge': True, 'routes': [{'dest': '10.77.1.0/24', 'via': '172.31.250.2', 'dev': 'eth0'},
                                        {'dest': '10.77.0.0/24', 'type': 'blackhole'}]}
    before = state(lab)
    assert module(lab, 'calico_route', routes, check=True)['changed'] and state(lab) == before
    assert module(lab, 'calico_route', routes)['changed']
    assert not module(lab, 'calico_route', routes)['changed']
    ip('-n', host, 'route', 'replace', '10.77.1.0/24', 'via', '172.31.250.3', 'dev', 'eth0', 'proto', '77')
    ip('-n', host, 'route', 'add', '10.77.5.0/24', 'dev', 'eth0', 'proto', '77')                 # stale, ours
    result = module(lab, 'calico_route', routes)
    assert result['changed'] and result['purged'] == ['10.77.5.0/24 dev eth0 scope link proto 77']
    table = ip('-n', host, 'route')
    assert '10.77.1.0/24 via 172.31.250.2' in table and '10.77.5.0' not in table
    assert '10.99.0.0/24 via 172.31.250.9 dev eth0 proto static' in table
    assert table.count('10.77.1.0/24') == 1


def test_proxy_arp_and_tunnel(lab):
    host = lab['host']
    args = {'interfaces': ['eth1'], 'ip_forward': True}
    before = state(lab)
    result = module(lab, 'proxy_arp', args, check=True)
    assert result['changed'] and result['after']['net/ipv4/neigh/eth1/proxy_delay'] == '0' and state(lab) == before
    assert module(lab, 'proxy_arp', args)['changed'] and not module(lab, 'proxy_arp', args)['changed']
    assert ip('netns', 'exec', host, 'cat', '/proc/sys/net/ipv4/conf/eth1/proxy_arp').strip() == '1'
    missing = module(lab, 'proxy_arp', {'interfaces': ['nope0']}, expect_failure=True)
    assert 'nope0' in missing['msg']
    vxlan = {'mode': 'vxlan', 'parent': 'eth0', 'local': '172.31.250.1', 'address': '10.77.0.0', 'mtu_from': 'eth0'}
    assert module(lab, 'calico_tunnel', vxlan)['changed'] and not module(lab, 'calico_tunnel', vxlan)['changed']
    link = json.loads(ip('-n', host, '-j', '-d', 'link', 'show', 'vxlan.calico'))[0]
    assert link['mtu'] == 1450 and link['linkinfo']['info_data']['id'] == 4096
    assert not link['linkinfo']['info_data']['learning']
    assert module(lab, 'calico_tunnel', {'mode': 'vxlan', 'state': 'absent'})['changed']
    assert 'vxlan.calico' not in ip('-n', host, 'link')
    # One call for both devices: mode all removes the lab's vxlan.calico (tunl0 needs no driver to be
    # absent), and a rerun finds nothing to do; a device of that name not made by the lab stays.
    assert module(lab, 'calico_tunnel', vxlan)['changed']
    removed = module(lab, 'calico_tunnel', {'mode': 'all', 'state': 'absent'})
    assert removed['changed'] and [t['name'] for t in removed['tunnels']] == ['tunl0', 'vxlan.calico', 'vxlan-v6.calico']
    assert 'vxlan.calico' not in ip('-n', host, 'link')
    assert not module(lab, 'calico_tunnel', {'mode': 'all', 'state': 'absent'})['changed']
    ip('-n', host, 'link', 'add', 'vxlan.calico', 'type', 'vxlan', 'id', '7', 'dstport', '4789', 'dev', 'eth0')
    assert not module(lab, 'calico_tunnel', {'mode': 'all', 'state': 'absent'})['changed']
    assert 'vxlan.calico' in ip('-n', host, 'link')
    ip('-n', host, 'link', 'del', 'vxlan.calico')
    refused = module(lab, 'calico_tunnel', {'mode': 'all', 'state': 'present'}, expect_failure=True)
    assert 'mode: all is only for state absent' in refused['msg']


def ipip_driver():
    """'loaded', 'loadable' or 'absent', found without loading anything: /sys/module, then modinfo."""
    if os.path.isdir('/sys/module/ipip'):
        return 'loaded'
    modinfo = shutil.which('modinfo') or '/sbin/modinfo'
    if os.path.exists(modinfo) and run([modinfo, 'ipip'], timeout=10).returncode == 0:
        return 'loadable'
    return 'absent'


def test_ipip_refused_without_the_driver(lab):
    """Only where the kernel has no ipip at all: elsewhere the module would load it for the whole machine."""
    if ipip_driver() != 'absent':
        pytest.skip('this kernel has ipip (%s): the refusal cannot be shown without loading it' % ipip_driver())
    before = state(lab)
    refused = module(lab, 'calico_tunnel', {'mode': 'ipip', 'address': '10.77.0.0'}, expect_failure=True)
    assert 'has no ipip driver' in refused['msg'] and state(lab) == before


def test_ipip_tunnel_when_the_driver_is_loaded(lab):
    """tunl0 set up and released in the test's namespace; runs only where ipip is already loaded."""
    if ipip_driver() != 'loaded':
        pytest.skip('ipip is not loaded here (%s); a test never loads kernel modules' % ipip_driver())
    args = {'mode': 'ipip', 'address': '10.77.0.0', 'mtu_from': 'eth0'}
    assert module(lab, 'calico_tunnel', args)['changed'] and not module(lab, 'calico_tunnel', args)['changed']
    link = ip_json('-n', lab['host'], 'addr', 'show', 'dev', 'tunl0')[0]
    assert 'UP' in link['flags'] and link['mtu'] == 1480
    assert [a['local'] for a in link['addr_info'] if a['family'] == 'inet'] == ['10.77.0.0']
    assert module(lab, 'calico_tunnel', {'mode': 'ipip', 'state': 'absent'})['changed']
    link = ip_json('-n', lab['host'], 'addr', 'show', 'dev', 'tunl0')[0]
    assert 'UP' not in link['flags'] and not [a for a in link['addr_info'] if a['family'] == 'inet']


def test_ten_pods_playbook(lab):
    env = ansible_env()

    lab['made'].extend(lab['prefix'] + 'p%d' % n for n in range(1, 11))

    def play(*extra):
        argv = ['nsenter', '--net=/run/netns/' + lab['host'], os.path.join(BIN, 'ansible-playbook'),
                os.path.join(ROOT, 'tests', 'integration', 'playbooks', 'ten_pods.yml'), '-i', 'localhost,',
                '-e', 'prefix=' + lab['prefix'],
                '-e', 'ansible_python_interpreter=' + os.path.join(BIN, 'python')] + list(extra)
        return run(argv, cwd=ROOT, env=env, timeout=300)

    before = state(lab)
    assert_play(play('--check'), ['localhost'], changed=3)   # reports the changes...
    assert state(lab) == before                               # ...and leaves nothing behind
    assert_play(play(), ['localhost'], changed=3)
    assert_play(play(), ['localhost'], changed=0)
    assert len([n for n in netns_list() if n in lab['made']]) == 11
    ping = run(['ip', 'netns', 'exec', lab['prefix'] + 'p1', 'ping', '-c', '2', '-W', '2', '-w', '5',
                '10.77.0.11'], timeout=20)
    assert ping.returncode == 0 and 'ttl=63' in ping.stdout


def bird_config(*blocks):
    return ''.join(['router id 172.31.250.1;\n', 'protocol device { }\n',
                    'protocol static labnet_block { ipv4; %s}\n' % ''.join('route %s blackhole; ' % b for b in blocks),
                    'protocol kernel { ipv4 { export all; }; }\n'])


def bird_routes(lab):
    return sorted(r['dst'] for r in json.loads(ip('-n', lab['host'], '-j', 'route', 'show', 'proto', 'bird') or '[]'))


def wait_for(condition, seconds=10):
    for _ in range(seconds * 4):
        if condition():
            return True
        time.sleep(0.25)
    return condition()


def test_bird_process_start_rerun_reconfigure_absent(lab):
    run_dir = '/run/labnet-calico-bird-' + lab['host']
    paths = {'daemon': 'process', 'config_path': run_dir + '/bird.conf', 'socket': run_dir + '/bird.ctl',
             'pid_file': run_dir + '/bird.pid'}
    try:
        bad = module(lab, 'calico_bird', dict(paths, config='router id 1.2.3;\n'), expect_failure=True)
        assert 'config: bird rejects it' in bad['msg']
        assert not os.path.exists(run_dir)                      # refused before anything changed
        checked = module(lab, 'calico_bird', dict(paths, config=bird_config('10.77.0.0/26')), check=True)
        assert checked['changed'] and checked['actions'] == ['started'] and not os.path.exists(run_dir)

        started = module(lab, 'calico_bird', dict(paths, config=bird_config('10.77.0.0/26')))
        assert started['changed'] and started['actions'] == ['started']
        pid = open(paths['pid_file']).read().strip()
        assert wait_for(lambda: bird_routes(lab) == ['10.77.0.0/26'])  # BIRD runs inside the host namespace
        again = module(lab, 'calico_bird', dict(paths, config=bird_config('10.77.0.0/26')))
        assert not again['changed'] and again['actions'] == []

        grown = module(lab, 'calico_bird', dict(paths, config=bird_config('10.77.0.0/26', '10.77.1.0/26')))
        assert grown['changed'] and grown['actions'] == ['reconfigured']
        assert open(paths['pid_file']).read().strip() == pid      # re-read, not restarted
        assert wait_for(lambda: bird_routes(lab) == ['10.77.0.0/26', '10.77.1.0/26'])
        # The bounded, quiet wait: done at once when all is there, else one message naming what is not.
        ready = module(lab, 'calico_bird', dict(paths, state='established', wait_routes=['10.77.1.0/26']))
        assert not ready['changed'] and ready['waited'] < 5
        late = module(lab, 'calico_bird', dict(paths, state='established', wait_timeout=2, log=run_dir + '/bird.log',
                                               wait_sessions=[{'name': 'Mesh_172_31_250_9', 'peer': 'host-z'}],
                                               wait_routes=['10.77.9.0/26']), expect_failure=True)
        assert late['msg'] == (
            'BGP sessions not Established after 2 s: Mesh_172_31_250_9 to host-z (not configured). peer blocks '
            "not in the kernel as proto bird after 2 s: 10.77.9.0/26. BIRD's log: %s/bird.log. next: birdc -s "
            '%s show protocols all Mesh_172_31_250_9; ip route show proto bird' % (run_dir, paths['socket']))

        assert module(lab, 'calico_bird', dict(paths, state='absent'), check=True)['changed']
        assert os.path.exists('/proc/' + pid)
        stopped = module(lab, 'calico_bird', dict(paths, state='absent'))
        assert stopped['changed'] and stopped['actions'] == ['stopped']
        assert bird_routes(lab) == []                            # BIRD took its routes with it
        assert os.listdir(run_dir) == []                         # config, socket and pid file removed
        assert not module(lab, 'calico_bird', dict(paths, state='absent'))['changed']
    finally:
        if os.path.exists(paths['pid_file']):
            run(['kill', open(paths['pid_file']).read().strip()], timeout=10)
        run(['rm', '-rf', run_dir], timeout=10)


def test_veth_purge_removes_only_unwanted_pairs_it_made(lab):
    p1, p2, p3 = pods(lab, 'p1', 'p2', 'p3')
    everything = [{'workload': p1, 'address': '10.77.0.2'}, {'workload': p2, 'address': '10.77.0.3'},
                  {'workload': p3, 'address': '10.77.0.4'}]
    assert module(lab, 'calico_veth', {'workloads': everything})['changed']
    # Not the module's: a tagged link under another name, and an underlay-style alias.
    ip('-n', lab['host'], 'link', 'add', 'byhand0', 'type', 'veth', 'peer', 'name', 'byhand1')
    ip('-n', lab['host'], 'link', 'set', 'byhand0', 'alias', 'labnet.calico:' + p2 + 'x')
    ip('-n', lab['host'], 'link', 'set', 'byhand1', 'alias', 'labnet.calico:netns_lab:lab:host')
    sleeper = subprocess.Popen(['ip', 'netns', 'exec', p3, 'sleep', '60'])  # something lives in p3
    try:
        before = state(lab)
        checked = module(lab, 'calico_veth', {'workloads': everything[:1], 'purge': True}, check=True)
        assert checked['changed'] and checked['purged'] == sorted([p2, p3]) and state(lab) == before
        result = module(lab, 'calico_veth', {'workloads': everything[:1], 'purge': True})
        assert result['changed'] and result['purged'] == sorted([p2, p3]) and result['kept_netns'] == [p3]
        links = ip('-n', lab['host'], '-br', 'link')
        assert 'byhand0' in links and 'byhand1' in links and 'cali' in links
        assert len([line for line in links.splitlines() if line.startswith('cali')]) == 1
        namespaces = netns_list()
        assert p1 in namespaces and p2 not in namespaces and p3 in namespaces
        again = module(lab, 'calico_veth', {'workloads': everything[:1], 'purge': True})
        assert not again['changed'] and again['purged'] == []
        # purge_only creates nothing, even for listed workloads that are missing (p2 stays gone) ...
        listed = module(lab, 'calico_veth', {'workloads': everything[:2], 'purge_only': True})
        assert not listed['changed'] and listed['workloads'] == [] and p2 not in netns_list()
        # ... and removes what is not listed (p1).
        emptied = module(lab, 'calico_veth', {'workloads': everything[1:2], 'purge_only': True})
        assert emptied['changed'] and emptied['purged'] == [p1] and p1 not in netns_list()
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)


def pod_behind_peer(lab):
    """A pod on the host (10.77.0.2 via pod0) and a peer namespace over u0 with 10.77.1.2 behind it."""
    host, (pod, peer) = lab['host'], pods(lab, 'p1', 'r')
    ip('netns', 'add', pod)
    ip('netns', 'add', peer)
    ip('-n', host, 'link', 'add', 'pod0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod)
    ip('-n', host, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u0', 'netns', peer)
    for netns, dev, address in ((host, 'pod0', '10.77.0.1/24'), (pod, 'eth0', '10.77.0.2/24'),
                                (host, 'u0', '172.31.251.1/24'), (peer, 'u0', '172.31.251.2/24'),
                                (peer, 'lo', '10.77.1.2/32')):
        ip('-n', netns, 'addr', 'add', address, 'dev', dev)
        ip('-n', netns, 'link', 'set', dev, 'up')
    ip('-n', pod, 'route', 'add', 'default', 'via', '10.77.0.1')
    ip('-n', host, 'route', 'add', '10.77.1.0/24', 'via', '172.31.251.2')
    ip('-n', peer, 'route', 'add', '10.77.0.0/24', 'via', '172.31.251.1')
    run(['ip', 'netns', 'exec', host, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'], timeout=10, check=True)
    return host, pod, peer


def test_pod_capture_sees_the_pings_on_the_underlay_only(lab):
    """A pod on the host pings an address behind a peer namespace: both cross u0 plain, nothing crosses eth0."""
    _host, pod, _peer = pod_behind_peer(lab)
    probes = [{'source': pod, 'source_ip': '10.77.0.2', 'target': 'behind-peer', 'ip': '10.77.1.2'}]

    # Someone else pings the same pod meanwhile (bounded): only the probe's own marked packets count.
    other = subprocess.Popen(['ip', 'netns', 'exec', pod, 'ping', '-n', '-q', '-i', '0.2', '-c', '100', '-w', '30',
                              '10.77.1.2'], stdout=subprocess.DEVNULL)
    try:
        seen = module(lab, 'pod_capture', {'interface': 'u0', 'probes': probes, 'count': 3}, check=True)
    finally:
        other.kill()
        other.wait(timeout=10)
    assert not seen['failed'] and not seen['changed']
    assert seen['results'][0]['frames_seen'] > 6                       # the other pings crossed u0 too
    result = seen['results'][0]
    assert (result['sent'], result['received'], result['route_dev']) == (3, 3, 'u0')
    assert [p['text'] for p in result['packets']] == [
        'out 10.77.0.2 > 10.77.1.2 ICMP echo request', 'in 10.77.1.2 > 10.77.0.2 ICMP echo reply'] * 3
    report = calico_lab.capture_report({'h': {'results': [result]}},
                                       {'h': {'underlay_dev': 'u0', 'node_ip': '172.31.251.1', 'workloads': []}})
    assert report['failures'] == []

    elsewhere = module(lab, 'pod_capture', {'interface': 'eth0', 'probes': probes, 'count': 1})['results'][0]
    assert elsewhere['received'] == 1 and elsewhere['packets'] == []   # the pings did not cross eth0
    report = calico_lab.capture_report({'h': {'results': [elsewhere]}},
                                       {'h': {'underlay_dev': 'eth0', 'node_ip': '172.31.250.1', 'workloads': []}})
    assert report['failures'] == ['h: %s -> behind-peer: ping sent 1 and got 1 back, but eth0 carried 0 requests '
                                  'out and 0 replies in' % pod]

    for args, message in (({'interface': 'u' * 16}, 'interface: '), ({'interface': 'nosuch0'}, 'interface: cannot watch'),
                          ({'interface': 'u0', 'count': 50}, 'count: 50 is outside 1-20')):
        failed = module(lab, 'pod_capture', dict({'probes': probes}, **args), expect_failure=True)
        assert failed['msg'].startswith(message), failed['msg']


def test_pod_ping_one_process_per_source_and_one_result_whatever_fails(lab):
    """pod_ping from a pod: replies with the TTL of the path, a dead address and a missing namespace
    answered per pair in one clean result, bad options refused naming the option."""
    _host, pod, _peer = pod_behind_peer(lab)
    gone = pods(lab, 'gone')
    targets = [{'name': 'behind-peer', 'ip': '10.77.1.2'}, {'name': 'host', 'ip': '10.77.0.1'},
               {'name': 'nobody', 'ip': '10.77.0.9'}]
    started = time.time()
    found = module(lab, 'pod_ping', {'sources': [pod, gone], 'targets': targets, 'count': 2}, check=True)
    results = dict(((r['source'], r['target']), r) for r in found['results'])
    assert len(found['results']) == 6 and found['failed_pairs'] == 4 and not found['changed']
    assert [results[(pod, t)]['received'] for t in ('behind-peer', 'host', 'nobody')] == [2, 2, 0]
    assert (results[(pod, 'behind-peer')]['ttl'], results[(pod, 'host')]['ttl']) == (63, 64)
    assert (results[(pod, 'behind-peer')]['host_dev'], results[(pod, 'host')]['host_dev']) == ('u0', 'lo')
    assert results[(pod, 'nobody')]['sent'] == 2 and results[(pod, 'nobody')]['error']
    assert results[(gone, 'host')]['error'] == ['entering /run/netns/%s: No such file or directory' % gone]
    assert time.time() - started < 30

    pairs = [{'source': pod, 'target': 'behind-peer', 'ip': '10.77.1.2'}]
    only = module(lab, 'pod_ping', {'pairs': pairs, 'count': 1})
    assert [(r['target'], r['received'], r['ttl']) for r in only['results']] == [('behind-peer', 1, 63)]
    for args, message in (({'pairs': pairs, 'sources': [pod], 'targets': targets}, 'parameters are mutually exclusive'),
                          ({'pairs': pairs, 'parallel': 65}, 'parallel: 65 is outside 1-64'),
                          ({'pairs': [dict(pairs[0], source='a b')]}, 'pairs[0].source: ')):
        failed = module(lab, 'pod_ping', args, expect_failure=True)
        assert message in failed['msg'], failed['msg']

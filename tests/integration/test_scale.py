"""A lab of a few hundred pods built by the playbooks (netns provider, BGP mode): bring-up, a re-run that
changes nothing, drift repaired, check mode that changes nothing, verify (a sample at this size) passing,
one broken pod caught and named, and a teardown that leaves nothing.

Size: SCALE_HOSTS x SCALE_PODS (default 2 x 128 = 256 pods), under 3 minutes on a 2-core machine.
"""

import os
import re

import pytest

from labtest import BIN, ROOT, Lab, assert_play, ip, ip_json, recap, run
from test_playbooks import labs, run_playbook  # noqa: F401  # pylint: disable=unused-import  # the fixture

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root')

HOSTS = int(os.environ.get('SCALE_HOSTS', '2'))
PODS = int(os.environ.get('SCALE_PODS', '128'))


def lab_state(hosts):
    """Per host: the pod routes (proto 77) and the pods' host-side links, as the kernel has them."""
    state = {}
    for host in hosts:
        routes = sorted('%s %s' % (r['dst'], r.get('dev')) for r in ip_json('-n', host, 'route', 'show', 'proto', '77'))
        links = sorted('%s %s' % (l['ifname'], l.get('operstate')) for l in ip_json('-n', host, 'link', 'show')
                       if l['ifname'].startswith('cali'))
        state[host] = {'routes': routes, 'links': links}
    return state


def test_few_hundred_pods(labs, tmp_path):  # pylint: disable=redefined-outer-name
    lab = Lab()
    source = run([os.path.join(BIN, 'python'), os.path.join(ROOT, 'benchmarks', 'make-inventory.py'),
                  str(HOSTS), str(PODS)], timeout=30, check=True).stdout
    inventory = labs(lab, lab.inventory(source, tmp_path / 'hosts.yml'))
    hosts = [lab.names['s%d' % h] for h in range(1, HOSTS + 1)]
    pods = HOSTS * PODS

    output = assert_play(run_playbook('bgp.yml', inventory), hosts)
    assert '%d pods reach each other (bgp mode)' % pods in output
    kind = 'sample' if pods * (pods - 1) > 5000 else 'full matrix'   # calico_verify_max_pairs
    assert re.search(r'%s: \d+ of %d ordered pod pairs probed' % (kind, pods * (pods - 1)), output), output[-3000:]
    assert re.search(r'%s -> %s: (\d+)/\1 pairs ok, TTL 62, via eth0 \(plain\)' % (hosts[0], hosts[1]), output)
    built = lab_state(hosts)
    assert all(len(built[h]['routes']) == PODS and len(built[h]['links']) == PODS for h in hosts), built
    quick = ['-e', 'calico_verify_capture=false']   # the underlay capture was judged once above
    assert_play(run_playbook('bgp.yml', inventory, *quick), hosts, changed=0)

    # Drift: three pod routes deleted and one pod's host-side veth down on the first host; one run repairs it.
    first = hosts[0]
    for route in ip_json('-n', first, 'route', 'show', 'proto', '77')[:3]:
        ip('-n', first, 'route', 'del', route['dst'], 'dev', route['dev'], 'proto', '77')
    downed = sorted(l['ifname'] for l in ip_json('-n', first, 'link', 'show') if l['ifname'].startswith('cali'))[PODS // 2]
    ip('-n', first, 'link', 'set', downed, 'down')
    assert lab_state(hosts) != built
    # Check mode on the drifted lab reports the repair and changes nothing.
    drifted = lab_state(hosts)
    output = assert_play(run_playbook('bgp.yml', inventory, '--check', '-e', 'calico_verify_fail=false', *quick), hosts)
    assert recap(output)[first]['changed'] >= 1
    assert lab_state(hosts) == drifted
    assert_play(run_playbook('bgp.yml', inventory, *quick), hosts)
    assert lab_state(hosts) == built

    # One pod of the lab broken (its /32 route on its host deleted): verify fails and names it.
    broken = lab.names['s%dp%d' % (HOSTS, PODS // 2)]
    address = ip_json('-n', broken, '-4', 'addr', 'show', 'eth0')[0]['addr_info'][0]['local']
    ip('-n', hosts[-1], 'route', 'del', address + '/32', 'proto', '77')
    output = assert_play(run_playbook('verify.yml', inventory, *quick), [], expect_failure=True)
    named = re.findall(r'pod (\S+) \(%s\): (\d+) of its (\d+) probed pairs failed' % re.escape(hosts[-1]), output)
    assert named and named[0][0] == broken and named[0][1] == named[0][2], output[-3000:]
    assert set(re.findall(r'pod (\S+) \(\S+\): \d+ of its', output)) == {broken}, output[-3000:]

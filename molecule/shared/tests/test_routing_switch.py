"""A scenario's second golden, after a switch of calico_routing (expected.yml golden_static): once every
check of test_lab.py has passed with the converge's BIRD (this file runs after it, and after
test_lab_v6.py, by name), the hosts are converged again with calico_routing static - the ipip stage only
(playbooks/stage.yml: tunl0, Felix's routes, BIRD stopped and its configuration given back) - and each
host's programmed state is compared with tests/integration/golden/<golden_static>/<host>.txt. The switch
is itself a test of convergence: the play must succeed, and the pods must still reach each other across
hosts, now over the lab's own routes. The side_effect step then tears this state down and checks it.
In the Molecule ipip scenario: golden/ipip-static on the VMs (the netns provider has no ipip driver).
"""

import os
import subprocess
import sys

import pytest

import test_lab
from test_lab import EXPECTED, HOSTS, TREE, golden_problems

testinfra_hosts = test_lab.testinfra_hosts
GOLDEN = EXPECTED.get('golden_static')

pytestmark = pytest.mark.skipif(not GOLDEN, reason='no golden after a routing switch in this scenario')


@pytest.fixture(scope='session')
def switched():
    """The hosts converged with calico_routing static, once for every host's test."""
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'),
            os.path.join(TREE, 'playbooks', 'stage.yml'), '-i', os.path.dirname(os.environ['MOLECULE_INVENTORY_FILE']),
            '--limit', 'calico_nodes', '-e', 'stage=ipip', '-e', 'calico_mode=ipip', '-e', 'calico_routing=static']
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=TREE, check=False,
                            env=dict(os.environ, LC_ALL='C.UTF-8'))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def test_static_golden_after_the_routing_switch(host, switched):
    problems = golden_problems(host, GOLDEN, 'static')
    assert not problems, 'after calico_routing static, differs from the golden files:\n' + problems
    config = host.file(test_lab.bird_config(host))
    assert not (config.exists and 'labnet.calico' in config.content_string), 'the lab\'s bird.conf is still there'


def test_pods_reach_pods_over_the_static_routes(host, switched):
    mine = test_lab.me(host)
    source = sorted(mine['pods'])[0]
    for name in mine['peers']:
        remote = HOSTS[name]['pods']
        result = host.run('ip netns exec %s ping -n -c 1 -W 2 -w 5 %s' % (source, remote[sorted(remote)[0]]))
        assert result.rc == 0, result.stdout + result.stderr

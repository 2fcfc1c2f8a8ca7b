"""Issue 19's 100-host BIRD lab: a full mesh against two route reflectors, on the netns provider.

For each topology, one after the other in one run (read the ratios, not the seconds: shared machine):

    bring-up (benchmarks/bgp-bring-up.yml, calico_routing bird) | BGP sessions and proto bird routes
    counted on every host | re-apply (must say changed=0) | teardown.yml

"converge" is the time of the play's wait task (every session Established and every peer block in the
kernel as proto bird, on every host), from Ansible's profile_tasks: it starts when the last BIRD has
been started and ends when the last host sees the whole topology. Run as root from the checkout,
under the lab lock:

    flock /tmp/labnet-lab.lock .venv/bin/python benchmarks/bird-scale.py 100 1 [--no-reapply] [--only-mesh | --only-reflectors]

Writes benchmarks/results/bird-scale.csv. Every lab it makes is torn down, also when a step fails.
"""
import csv
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweep import BIN, RESULTS, ROOT, changed_total, timed  # noqa: E402  (one runner for both benchmarks)

FIELDS = ['topology', 'hosts', 'pods', 'bring_up_s', 'converge_s', 'sessions', 'sessions_per_host_max',
          'bird_routes', 'reapply_s', 'reapply_changed', 'teardown_s']
WAIT_TASK = 'Every BGP session of this host'   # the wait task's name, up to where it names the families


def established_sessions(host):
    """BGP sessions Established on HOST, from its BIRD's control socket (a file: no lab address is used)."""
    socket = '/run/labnet-calico-bird-%s/bird.ctl' % host
    out = subprocess.run(['birdc', '-s', socket, 'show', 'protocols'], capture_output=True, text=True,
                         timeout=30, check=False, env=dict(os.environ, LC_ALL='C')).stdout
    return sum(1 for line in out.splitlines() if re.search(r'\sBGP\s.*\sEstablished', line))


def bird_routes(host):
    """Routes BIRD put in HOST's kernel table (read inside the host's namespace)."""
    out = subprocess.run(['ip', '-n', host, '-j', 'route', 'show', 'proto', 'bird'], capture_output=True, text=True,
                         timeout=30, check=False).stdout
    return len(json.loads(out or '[]'))


def task_seconds(output, name):
    """The seconds profile_tasks gives the task NAME (its recap line: '<role> : <name> --- 12.34s')."""
    found = re.findall(r'%s.*?-+\s+([0-9.]+)s' % re.escape(name), output)
    return float(found[-1]) if found else ''


def measure(topology, hosts, pods, log, reapply=True):
    inventory = '/tmp/labnet-calico-bird-scale-%dx%d.yml' % (hosts, pods)
    with open(inventory, 'w') as out:
        subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'make-inventory.py'), str(hosts), str(pods)],
                       stdout=out, check=True, timeout=60)
    names = ['s%d' % h for h in range(1, hosts + 1)]
    # A mesh of 100 BIRDs started one by one under load needs longer than the default 90 s wait.
    extra = {'calico_routing': 'bird', 'calico_bird_wait_timeout': 900, 'calico_route_reflectors': names[:2] if topology == 'reflectors' else []}
    playbook = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory]
    up = playbook + ['benchmarks/bgp-bring-up.yml', '-e', json.dumps(extra)]
    row = {'topology': topology, 'hosts': hosts, 'pods': pods}
    os.environ['ANSIBLE_CALLBACKS_ENABLED'] = 'labnet.calico.preload,ansible.posix.profile_tasks'   # ansible.cfg's, and the timer
    os.environ['PROFILE_TASKS_TASK_OUTPUT_LIMIT'] = 'all'
    try:
        row['bring_up_s'], output = timed(up, log)
        row['converge_s'] = task_seconds(output, WAIT_TASK)
        per_host = [established_sessions(h) for h in names]
        row['sessions'] = sum(per_host) // 2   # each session counted at both ends
        row['sessions_per_host_max'] = max(per_host)
        row['bird_routes'] = sum(bird_routes(h) for h in names)
        if reapply:
            row['reapply_s'], output = timed(up, log)
            row['reapply_changed'] = changed_total(output)
    finally:
        row['teardown_s'] = timed(playbook + ['playbooks/teardown.yml'], log)[0]
    return row


def main(args):
    if os.geteuid() != 0:
        sys.exit('run as root (the lab is made of network namespaces)')
    reapply = '--no-reapply' not in args   # at 100 hosts a re-apply costs as much as the bring-up
    topologies = [t for t in ('mesh', 'reflectors') if '--only-' + t in args] or ['mesh', 'reflectors']
    args = [a for a in args if not a.startswith('--')]
    hosts = int(args[0]) if args else 100
    pods = int(args[1]) if len(args) > 1 else 1
    os.makedirs(RESULTS, exist_ok=True)
    log = os.path.join(RESULTS, 'bird-scale.log')
    open(log, 'w').close()
    rows = []
    for topology in topologies:
        rows.append(measure(topology, hosts, pods, log, reapply))
        print('  '.join('%s=%s' % (k, ('%.2f' % v) if isinstance(v, float) else v) for k, v in rows[-1].items()),
              flush=True)
    with open(os.path.join(RESULTS, 'bird-scale.csv'), 'w', newline='') as out:
        writer = csv.DictWriter(out, FIELDS, lineterminator='\n')   # ansible-test sanity wants \n endings
        writer.writeheader()
        for row in rows:
            writer.writerow(dict((k, ('%.2f' % v) if isinstance(v, float) else v) for k, v in row.items()))
    print('wrote %s' % os.path.join(RESULTS, 'bird-scale.csv'))


if __name__ == '__main__':
    main(sys.argv[1:])

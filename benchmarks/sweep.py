"""The scale sweep of issue 19: for each HOSTSxPODS size, the raw script (benchmarks/raw-lab.py) and
the roles (benchmarks/bgp-bring-up.yml: bgp.yml without verify) on the netns provider, timed as whole
processes in one run, one after the other:

    raw up | raw down | roles bring-up | roles re-apply (must say changed=0) | verify.yml | teardown.yml

Writes benchmarks/results/sweep.csv (a size measured again replaces its row, the other sizes' rows
stay) and, when matplotlib is there, sweep.png (benchmarks/sweep.sh installs it into .venv first). Run as root from the checkout, under the lab lock:

    flock /tmp/labnet-lab.lock benchmarks/sweep.sh 2x4 2x256 32x8

Single runs per size on a shared machine: read the ratios (roles / raw, measured minutes apart),
not the absolute seconds. Every lab it makes is torn down, also when a step fails.
"""
import csv
import os
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
BIN = os.path.join(ROOT, '.venv', 'bin')
RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
FIELDS = ['hosts', 'pods', 'raw_up_s', 'roles_up_s', 'up_ratio', 'roles_reapply_s', 'reapply_ratio',
          'reapply_changed', 'verify_s', 'verify_pairs', 'teardown_s', 'measured']
LIMIT = 1800   # seconds for any one step


def timed(argv, log, may_fail=False):
    """Run ARGV (output appended to LOG); (seconds, output). A failing step stops the sweep, unless
    MAY_FAIL (verify: its time is still a figure; the row says it failed)."""
    started = time.monotonic()
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1', LC_ALL='C.UTF-8')   # Ansible needs UTF-8
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=LIMIT, check=False)
    seconds = time.monotonic() - started
    with open(log, 'a') as out:
        out.write('### %s (%.1f s, rc %d)\n%s%s\n' % (' '.join(argv), seconds, proc.returncode, proc.stdout, proc.stderr))
    if proc.returncode != 0 and may_fail:
        return seconds, proc.stdout + '\nVERIFY FAILED (rc %d)\n' % proc.returncode
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %d), see %s' % (' '.join(argv), proc.returncode, log))
    return seconds, proc.stdout


def changed_total(output):
    return sum(int(n) for n in re.findall(r'^\S+\s+:\s+ok=\d+\s+changed=(\d+)', output, re.M))


def verified_pairs(output):
    found = re.findall(r'(\d+) pods reach each other', output)
    return int(found[-1]) if found else ''


def measure(hosts, pods, log):
    raw = [sys.executable, os.path.join(ROOT, 'benchmarks', 'raw-lab.py')]
    playbook = [os.path.join(BIN, 'ansible-playbook'), '-i']
    inventory = '/tmp/labnet-calico-sweep-%dx%d.yml' % (hosts, pods)
    with open(inventory, 'w') as out:
        subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'make-inventory.py'), str(hosts), str(pods)],
                       stdout=out, check=True, timeout=60)
    row = {'hosts': hosts, 'pods': pods, 'measured': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}
    try:
        row['raw_up_s'] = timed(raw + ['up', str(hosts), str(pods)], log)[0]
    finally:
        timed(raw + ['down', str(hosts), str(pods)], log)
    try:
        row['roles_up_s'] = timed(playbook + [inventory, 'benchmarks/bgp-bring-up.yml'], log)[0]
        row['roles_reapply_s'], output = timed(playbook + [inventory, 'benchmarks/bgp-bring-up.yml'], log)
        row['reapply_changed'] = changed_total(output)
        row['verify_s'], output = timed(playbook + [inventory, 'playbooks/verify.yml', '-e', 'calico_verify_count=1'], log,
                                        may_fail=True)
        row['verify_pairs'] = 'failed' if 'VERIFY FAILED' in output else verified_pairs(output)
    finally:
        row['teardown_s'] = timed(playbook + [inventory, 'playbooks/teardown.yml'], log)[0]
    row['up_ratio'] = row['roles_up_s'] / row['raw_up_s']
    row['reapply_ratio'] = row['roles_reapply_s'] / row['raw_up_s']
    return row


def merged(path, rows):
    """ROWS, and the rows of an earlier sweep's CSV at PATH for the sizes ROWS does not have: sizes too
    long for one lock hold can be run one at a time (the CSV says each row's own figures)."""
    sizes = set((r['hosts'], r['pods']) for r in rows)
    kept = []
    if os.path.exists(path):
        with open(path, newline='') as old:
            for row in csv.DictReader(old):
                row = dict((k, float(v) if k.endswith(('_s', '_ratio')) and v not in ('', None) else v)
                           for k, v in row.items())
                row['hosts'], row['pods'] = int(row['hosts']), int(row['pods'])
                if (row['hosts'], row['pods']) not in sizes:
                    kept.append(row)
    return sorted(kept + rows, key=lambda r: (r['hosts'], r['pods']))


def chart(rows, path):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: no chart (benchmarks/sweep.sh installs it)')
        return
    labels = ['%dx%d' % (r['hosts'], r['pods']) for r in rows]
    series = [('raw script', 'raw_up_s'), ('roles: bring-up', 'roles_up_s'), ('roles: re-apply', 'roles_reapply_s'),
              ('verify.yml', 'verify_s')]
    width = 0.8 / len(series)
    fig, axis = plt.subplots(figsize=(8, 4.5))
    for index, (name, field) in enumerate(series):
        axis.bar([i + index * width for i in range(len(rows))], [r[field] for r in rows], width, label=name)
    axis.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(rows))], labels)
    axis.set_xlabel('hosts x pods per host (netns provider, BGP mode)')
    axis.set_ylabel('seconds (whole process, single run)')
    axis.set_title('labnet.calico: raw ip commands against the roles')
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(sizes):
    if os.geteuid() != 0:
        sys.exit('run as root (the lab is made of network namespaces)')
    parsed = []
    for size in sizes or ['2x4', '2x64', '2x256', '8x8', '32x8']:
        match = re.match(r'^(\d+)x(\d+)$', size)
        if not match:
            sys.exit('a size is HOSTSxPODS, e.g. 32x8: %r' % size)
        parsed.append((int(match.group(1)), int(match.group(2))))
    os.makedirs(RESULTS, exist_ok=True)
    log = os.path.join(RESULTS, 'sweep.log')
    open(log, 'a').close()
    rows = []
    for hosts, pods in parsed:
        rows.append(measure(hosts, pods, log))
        print('  '.join('%s=%s' % (k, ('%.2f' % v) if isinstance(v, float) else v) for k, v in rows[-1].items()), flush=True)
    rows = merged(os.path.join(RESULTS, 'sweep.csv'), rows)
    with open(os.path.join(RESULTS, 'sweep.csv'), 'w', newline='') as out:
        writer = csv.DictWriter(out, FIELDS, lineterminator='\n')   # ansible-test sanity wants \n endings
        writer.writeheader()
        for row in rows:
            writer.writerow(dict((k, ('%.2f' % v) if isinstance(v, float) else v) for k, v in row.items()))
    chart(rows, os.path.join(RESULTS, 'sweep.png'))
    print('wrote %s' % RESULTS)


if __name__ == '__main__':
    main(sys.argv[1:])

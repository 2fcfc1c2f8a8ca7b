"""Time playbooks/verify.yml on a netns lab of HOSTS x PODS (BGP mode), as root, under the lab lock:

    flock /tmp/labnet-lab.lock timeout 1200 .venv/bin/python benchmarks/verify-bench.py 4 64 [MAX_PAIRS] [RUNS]

Builds the lab with bgp.yml (benchmarks/make-inventory.py's inventory), runs verify.yml RUNS times
(default 3) with calico_verify_max_pairs=MAX_PAIRS (default 5000; 300000 probes the full matrix of 512
pods; several, comma-separated, each RUNS times on the same lab), prints one CSV row per run
(hosts,pods,max_pairs,probed,kind,seconds,rc) and tears the lab down.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
BIN = os.path.join(ROOT, '.venv', 'bin')


def playbook(name, inventory, *extra):
    argv = [os.path.join(BIN, 'ansible-playbook'), os.path.join(ROOT, 'playbooks', name), '-i', inventory] + list(extra)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    return proc, time.monotonic() - started


def main():
    if len(sys.argv) not in (3, 4, 5):
        sys.exit(__doc__)
    hosts, pods = int(sys.argv[1]), int(sys.argv[2])
    budgets = [int(b) for b in (sys.argv[3] if len(sys.argv) > 3 else '5000').split(',')]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    inventory = tempfile.NamedTemporaryFile('w', suffix='.yml', prefix='verify-bench-', delete=False)
    with inventory:
        inventory.write(subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'make-inventory.py'),
                                        str(hosts), str(pods)], capture_output=True, text=True, check=True,
                                       timeout=30).stdout)
    try:
        proc, seconds = playbook('bgp.yml', inventory.name, '-e', 'calico_verify_fail=false')
        print('# bring-up (bgp.yml with verify) rc=%d %.1f s' % (proc.returncode, seconds), flush=True)
        if proc.returncode != 0:
            sys.exit(proc.stdout[-3000:] + proc.stderr[-2000:])
        print('hosts,pods,max_pairs,probed,kind,seconds,rc', flush=True)
        for max_pairs in [b for b in budgets for _run in range(runs)]:
            proc, seconds = playbook('verify.yml', inventory.name, '-e', 'calico_verify_max_pairs=%d' % max_pairs)
            found = re.search(r'(full matrix|sample): (\d+) of \d+ ordered pod pairs probed', proc.stdout)
            print('%d,%d,%d,%s,%s,%.1f,%d' % (hosts, pods, max_pairs, found.group(2) if found else '?',
                                              found.group(1) if found else '?', seconds, proc.returncode), flush=True)
            if proc.returncode != 0:
                print(proc.stdout[-3000:], file=sys.stderr)
    finally:
        proc, seconds = playbook('teardown.yml', inventory.name)
        print('# teardown rc=%d %.1f s' % (proc.returncode, seconds), flush=True)
        os.unlink(inventory.name)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Mutation check for the test suite: breaks the collection's code one way at a time, runs the fast
tests that should notice, and reports caught / missed. Every mutation must be caught.

Not part of CI (it runs the module and playbook integration tests once per mutation, ~15 min in all). Run it as
root from the repo root, under the shared lab lock, on a clean tree:
    flock /tmp/labnet-lab.lock .venv/bin/python tests/mutation/run.py [NAME ...]
Each mutation patches one source file in place and puts it back byte for byte afterwards
(try/finally, checked); the run stops if a file cannot be put back.
"""
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PYTEST = [os.path.join(ROOT, '.venv', 'bin', 'python'), '-m', 'pytest', '-q', '-x', '-p', 'no:cacheprovider']
MODULES = 'tests/integration/test_modules.py'
CHECKS = 'tests/integration/test_module_checks.py'
PLAYBOOKS = 'tests/integration/test_playbooks.py'

# name: (file, text to find (exactly once), replacement, tests that must fail)
MUTATIONS = {
    'proxy_arp skips proxy_delay': (
        'plugins/module_utils/interface_sysctls.py', "    'proxy_delay': 'net/ipv4/neigh/%s/proxy_delay',\n", '',
        [MODULES + '::test_proxy_arp_and_tunnel']),
    'proxy_arp skips forwarding': (
        'plugins/module_utils/interface_sysctls.py', "    'forwarding': 'net/ipv4/conf/%s/forwarding',\n", '',
        [CHECKS + '::test_each_module_shows_before_and_after_in_diff_mode']),
    'calico_route drops onlink': (
        'plugins/module_utils/iproute.py', "        words.append('onlink')\n", '        pass\n',
        [CHECKS + '::test_onlink_route_through_the_tunnel_device']),
    'peer routes without the blackhole': (
        'plugins/filter/calico_lab.py', "    routes = [{'dest': host_plan['block'], 'type': 'blackhole'}]\n",
        '    routes = []\n', ['tests/unit']),
    'vxlan MTU overhead 40 instead of 50': (
        'plugins/module_utils/tunnel_mtu.py', "ENCAPSULATION_OVERHEAD = {'none': 0, 'ipip': 20, 'vxlan': 50, 'vxlan6': 70}",
        "ENCAPSULATION_OVERHEAD = {'none': 0, 'ipip': 20, 'vxlan': 40, 'vxlan6': 70}", [MODULES + '::test_proxy_arp_and_tunnel']),
    'calico_veth default MAC changed': (
        'plugins/modules/calico_veth.py', "            mac=dict(type='str', default=CALICO_HOST_MAC),",
        "            mac=dict(type='str', default='ee:ee:ee:ee:ee:ef'),",
        [MODULES + '::test_veth_create_rerun_drift_checkmode_absent']),
    'calico_neigh programs no FDB entry': (
        'plugins/modules/calico_neigh.py',
        "                       for m, d in sorted(to_set.items()))\n",
        "                       for m, d in sorted(to_set.items()) if False)\n",
        [CHECKS + '::test_neigh_create_rerun_drift_purge_checkmode']),
    'calico_route purges routes of any protocol': (
        'plugins/modules/calico_route.py', "                if old['proto'] != purge_proto:",
        "                if False:", [MODULES + '::test_route_replace_purge_and_foreign_routes']),
    'capture judge accepts a host without results': (
        'plugins/filter/calico_lab.py', "        for wanted in capture_probes(plan, host) if host in plan else []:",
        "        for wanted in []:", ['tests/unit']),
    # Issue 17's defects put back one at a time: the test that was written for each must fail.
    'labtest passes a failed module run': (
        'tests/integration/labtest.py',
        "        assert not result['failed'] and not result['unreachable'] and result['_rc'] == 0, result\n",
        "        pass\n", ['tests/integration/test_labtest.py']),
    'labtest reads rc only, not every host of the recap': (
        'tests/integration/labtest.py',
        "    bad = dict((h, c) for h, c in counts.items() if c['failed'] or c['unreachable'])\n",
        "    bad = {}\n", ['tests/integration/test_labtest.py']),
    'cross_subnet encapsulates every pair (as always does)': (
        'plugins/filter/calico_lab.py', "(ipip_mode == 'always' or not same_subnet)", "True",
        [PLAYBOOKS + '::test_two_subnets_vxlan_cross_subnet_per_pair_then_teardown']),
    'BGP mode leaves the VXLAN device of a VXLAN run': (
        'roles/bgp/tasks/main.yml', "- name: No tunnel device left from an IPIP or VXLAN run\n",
        "- name: No tunnel device left from an IPIP or VXLAN run\n  when: false\n",
        [PLAYBOOKS + '::test_seeds_lab_bgp_rerun_switch_and_teardown']),
    'teardown leaves the routes to other hosts': (
        'roles/teardown/tasks/main.yml', '    - "{{ calico_peer_route_proto }}"\n', '',
        [PLAYBOOKS + '::test_seeds_lab_bgp_rerun_switch_and_teardown']),
    'capture judge ignores the wrong encapsulation': (
        'plugins/filter/calico_lab.py', "            if wrong:\n", "            if False:\n", ['tests/unit']),
}


def run_tests(tests):
    """pytest on TESTS (unit and integration runs apart: their test files share base names)."""
    for group in (['tests/unit'] if t == 'tests/unit' else [t] for t in tests):
        started = time.time()
        proc = subprocess.run(PYTEST + group, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            last = [l for l in proc.stdout.splitlines() if l.startswith(('FAILED', 'ERROR'))]
            return True, '%s (%.0f s)' % ((last or proc.stdout.splitlines()[-1:] or ['rc %d' % proc.returncode])[0],
                                          time.time() - started)
    return False, 'all passed'


def mutate(name):
    path, old, new, tests = MUTATIONS[name]
    full = os.path.join(ROOT, path)
    with open(full, 'rb') as source:
        original = source.read()
    text = original.decode('utf-8')
    if text.count(old) != 1:
        return None, 'mutation does not apply: %r found %d times in %s' % (old, text.count(old), path)
    try:
        with open(full, 'w') as target:
            target.write(text.replace(old, new))
        return run_tests(tests)
    finally:
        with open(full, 'wb') as target:
            target.write(original)
        with open(full, 'rb') as check:
            if check.read() != original:
                sys.exit('could not restore %s: stop here' % path)


def main(names):
    if os.geteuid() != 0:
        sys.exit('run as root (the module tests build namespaces)')
    unknown = [n for n in names if n not in MUTATIONS]
    if unknown:
        sys.exit('unknown mutation(s) %s; known: %s' % (unknown, ', '.join(MUTATIONS)))
    chosen = names or list(MUTATIONS)
    baseline, detail = run_tests(sorted(set(t for n in chosen for t in MUTATIONS[n][3])))
    if baseline:
        sys.exit('the tests fail without any mutation: %s' % detail)
    missed = []
    for name in chosen:
        caught, detail = mutate(name)
        verdict = {True: 'caught', False: 'MISSED', None: 'NOT APPLIED'}[caught]
        print('%-48s %-11s %s' % (name, verdict, detail), flush=True)
        if caught is not True:
            missed.append(name)
    print('%d of %d mutations caught' % (len(chosen) - len(missed), len(chosen)))
    return 1 if missed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

"""Print a netns-provider inventory of HOSTS hosts with PODS pods each, for the scale sweep.

    python3 benchmarks/make-inventory.py 4 25 > /tmp/lab-4x25.yml
    .venv/bin/ansible-playbook playbooks/bgp.yml -i /tmp/lab-4x25.yml -e calico_verify_count=1

Blocks and pod addresses come from the pool (IPAM), so any size up to the pool works.
"""
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    hosts, pods = int(sys.argv[1]), int(sys.argv[2])
    block_size = 24 if pods <= 250 else 23   # a /24 holds 250 pods after the tunnel address; a /23 500
    if not (1 <= hosts <= 200 and 0 <= pods <= 500 and (pods <= 250 or hosts <= 128)):
        sys.exit('HOSTS must be 1-200 (1-128 above 250 pods) and PODS 0-500')
    print('all:')
    print('  vars: {calico_ipam_pool: 10.244.0.0/16, calico_block_size: %d}' % block_size)
    print('  children:')
    print('    calico_nodes:')
    print('      vars:')
    print('        calico_lab_provider: netns')
    print('        ansible_connection: labnet.calico.netns')
    print('        ansible_python_interpreter: "{{ ansible_playbook_python }}"')
    print('      hosts:')
    for h in range(1, hosts + 1):
        names = ', '.join('{name: s%dp%d}' % (h, p) for p in range(1, pods + 1))
        print('        s%d: {calico_node_address: 192.168.60.%d/24, calico_workloads: [%s]}' % (h, h, names))


if __name__ == '__main__':
    main()

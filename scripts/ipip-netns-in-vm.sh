#!/usr/bin/env bash
# Opt-in check (not in CI: about 12 minutes under TCG on 2 cores): the default inventory's IPIP playbook on a
# kernel that HAS the ipip driver, where calico_lab_provider: auto must choose network namespaces.
# This machine's kernel may have no ipip driver, so the check runs inside one QEMU VM (the
# labnet.calico.qemu_hosts image, whose Debian kernel has ipip), as its own Ansible controller:
#   1. boot one VM (qemu_hosts role, 1536 MiB; its only NIC to this machine is QEMU user networking
#      with restrict=on and an SSH port forward on 127.0.0.1; it reaches no network);
#   2. copy the checkout (tracked files) and ansible-core's wheels into it, install them offline;
#   3. in the VM: ansible-playbook playbooks/ipip.yml -i inventory -> the play says "network
#      namespaces", the verify matrix passes; a second run says changed=0; playbooks/teardown.yml
#      leaves no namespace, process, link, route or rule of the lab in the VM;
#   4. destroy the VM and remove its files (also on failure).
# Prints PASS or FAIL; exits non-zero on failure. Run as root, under the lab lock:
#   flock /tmp/labnet-lab.lock timeout 3600 ./scripts/ipip-netns-in-vm.sh
# Environment: IPIP_VM_PORT (default 2291), IPIP_VM_MEMORY (MiB, default 1536),
# IPIP_VM_KEEP=1 keeps the VM running on failure (destroy it with the printed command).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

port=${IPIP_VM_PORT:-2291}
memory=${IPIP_VM_MEMORY:-1536}
host=labnet-ipip-check
group=labnet_ipip_check
venv=$repo/.venv
start=$(date +%s)

say() { printf '[ipip-netns-in-vm %4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }
fail() { say "FAIL: $*"; echo FAIL; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (the VM image is built with debootstrap)"
[ -x "$venv/bin/ansible-playbook" ] || fail "no $venv/bin/ansible-playbook: run scripts/bootstrap.sh"
case $port in ''|*[!0-9]*) fail "IPIP_VM_PORT must be a number, not '$port'" ;; esac
case $memory in ''|*[!0-9]*) fail "IPIP_VM_MEMORY must be a number, not '$memory'" ;; esac
if ss -Hltn "sport = :$port" | grep -q .; then fail "127.0.0.1:$port is in use: set IPIP_VM_PORT"; fi

work=$(mktemp -d /tmp/labnet-ipip-vm.XXXXXX)
export LC_ALL=C.UTF-8 ANSIBLE_CONFIG=$repo/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$repo/collections
key=$HOME/.cache/labnet-calico/id_ed25519

cat > "$work/inventory.yml" <<EOF
all:
  children:
    $group:
      hosts:
        $host:
          calico_lab_provider: qemu
          calico_vm_memory: $memory
          calico_node_address: 172.31.254.10/24
          ansible_host: 127.0.0.1
          ansible_port: $port
          ansible_user: root
          ansible_ssh_private_key_file: $key
          ansible_ssh_common_args: -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR
          ansible_python_interpreter: /usr/bin/python3
EOF
cat > "$work/vm.yml" <<'EOF'
- name: The check's VM
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Create or destroy it
      ansible.builtin.include_role:
        name: labnet.calico.qemu_hosts
        tasks_from: "{{ vm_action }}"
EOF

vm() {  # vm create|destroy
  timeout 1800 "$venv/bin/ansible-playbook" -i "$work/inventory.yml" "$work/vm.yml" \
    -e "vm_action=$1" -e "calico_group=$group" -e calico_router_group=labnet_ipip_check_routers \
    > "$work/vm-$1.log" 2>&1
}

cleanup() {
  rc=$?
  if [ "$rc" -ne 0 ] && [ "${IPIP_VM_KEEP:-0}" = 1 ]; then
    say "kept the VM; destroy it with: $venv/bin/ansible-playbook -i $work/inventory.yml $work/vm.yml -e vm_action=destroy -e calico_group=$group"
    exit "$rc"
  fi
  say "destroying the VM"
  if ! vm destroy; then
    tail -n 30 "$work/vm-destroy.log" || true
    say "FAIL: destroying the VM failed (log above); its files: $work"
    echo FAIL
    exit 1
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

ssh_vm() {  # ssh_vm SECONDS 'COMMAND': one bounded command line, run by the VM's shell
  timeout "$1" ssh -n -i "$key" -p "$port" -o BatchMode=yes -o ConnectTimeout=20 \
    -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR root@127.0.0.1 "$2"
}

say "booting one VM ($memory MiB) on 127.0.0.1:$port (builds the image first when it is not cached)"
vm create || { tail -n 40 "$work/vm-create.log"; fail "the VM did not come up (log above)"; }
ssh_vm 60 true || fail "no SSH to the VM"
ssh_vm 60 'modinfo ipip >/dev/null' || fail "the VM's kernel has no ipip module"

say "downloading ansible-core's wheels on this machine (from the index the venv uses)"
ansible_version=$("$venv/bin/python" -c 'import ansible.release; print(ansible.release.__version__)')
timeout 600 "$venv/bin/pip" download -q --only-binary=:all: -d "$work/wheels" pip "ansible-core==$ansible_version" \
  > "$work/pip.log" 2>&1 || { cat "$work/pip.log"; fail "pip download failed"; }

say "copying the checkout and the wheels into the VM"
git -C "$repo" ls-files -z > "$work/files"
timeout 300 tar -C "$repo" --null -T "$work/files" -czf "$work/checkout.tar.gz"
timeout 300 tar -C "$work" -czf "$work/wheels.tar.gz" wheels
for archive in checkout wheels; do
  timeout 300 ssh -i "$key" -p "$port" -o BatchMode=yes -o UserKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=no -o LogLevel=ERROR root@127.0.0.1 \
    "mkdir -p /root/$archive && tar -C /root/$archive -xzf -" < "$work/$archive.tar.gz" \
    || fail "copying $archive into the VM failed"
done

say "installing ansible-core $ansible_version in the VM, offline (--no-index)"
# shellcheck disable=SC2016  # $1 is expanded by the shell in the VM
ssh_vm 900 'set -- /root/wheels/wheels/pip-*.whl && python3 "$1/pip" install -q --no-index --find-links /root/wheels/wheels --root-user-action=ignore --break-system-packages --disable-pip-version-check ansible-core' \
  || fail "installing ansible-core in the VM failed"

# In the VM: the user's command, from the checkout, with the default inventory.
play() {  # play NAME PLAYBOOK: runs it in the VM, output in $work/NAME.log
  ssh_vm 1500 "cd /root/checkout && LC_ALL=C.UTF-8 ANSIBLE_CONFIG=/root/checkout/ansible.cfg ANSIBLE_FORCE_COLOR=0 timeout 1450 ansible-playbook $2 -i inventory" \
    > "$work/$1.log" 2>&1
}
recap_ok() {  # recap_ok LOG [changed]: every host of the recap has failed=0 unreachable=0 (and changed=0)
  local lines
  lines=$(grep -E '^(host-a|host-b|localhost) +: ' "$1") || return 1
  [ "$(printf '%s\n' "$lines" | wc -l)" -ge 3 ] || return 1
  ! printf '%s\n' "$lines" | grep -Eq 'failed=[1-9]|unreachable=[1-9]' || return 1
  if [ "${2:-}" = changed ]; then ! printf '%s\n' "$lines" | grep -Eq 'changed=[1-9]' || return 1; fi
}
# The VM's root namespace before the lab: links, routes (every table), rules.
root_state='ip -o link show | cut -d: -f2 | sort; ip route show table all; ip -6 route show table all; ip rule; ip -6 rule'
ssh_vm 60 "$root_state" > "$work/root-before.txt" || fail "reading the VM's root namespace failed"

say "run 1: ansible-playbook playbooks/ipip.yml -i inventory (in the VM)"
play ipip-1 playbooks/ipip.yml || { tail -n 60 "$work/ipip-1.log"; fail "the first ipip.yml run failed (log above)"; }
# The YAML callback folds long messages: read them with every run of blanks and newlines as one space.
tr -s ' \n' '  ' < "$work/ipip-1.log" > "$work/ipip-1.flat"
chosen=$(grep -o 'auto: network namespaces of this machine, whose kernel has the ipip driver [^)]*)' "$work/ipip-1.flat" | head -n 1)
[ -n "$chosen" ] || { grep -n -A4 'Say which provider' "$work/ipip-1.log"; fail "the play did not choose network namespaces"; }
say "$chosen"
recap_ok "$work/ipip-1.log" || { tail -n 30 "$work/ipip-1.log"; fail "run 1: a host failed"; }
matrix=$(grep -o '[0-9]* pods reach each other (ipip mode) - [0-9]* pairs, the full matrix' "$work/ipip-1.flat" | head -n 1)
[ -n "$matrix" ] || { tail -n 60 "$work/ipip-1.log"; fail "run 1: no passing IPIP matrix in the output"; }
say "$matrix"

say "run 2: the same command, expecting changed=0"
play ipip-2 playbooks/ipip.yml || { tail -n 60 "$work/ipip-2.log"; fail "the second ipip.yml run failed (log above)"; }
grep -E '^(host-a|host-b|localhost) +: ' "$work/ipip-2.log"
recap_ok "$work/ipip-2.log" changed || { grep -B2 -E '^changed:' "$work/ipip-2.log" | head -n 40; fail "run 2 changed something"; }

say "teardown: ansible-playbook playbooks/teardown.yml -i inventory"
play teardown playbooks/teardown.yml || { tail -n 60 "$work/teardown.log"; fail "teardown.yml failed (log above)"; }
ssh_vm 60 "$root_state" > "$work/root-after.txt" || fail "reading the VM's root namespace failed"
left=$(ssh_vm 60 'ip netns list; pgrep -a -x bird; pgrep -a -x iperf3; ls -A /run/netns 2>/dev/null; echo END') \
  || fail "looking for leftovers in the VM failed"
[ "$left" = END ] || fail "teardown left in the VM: ${left%END}"
# Loading the ipip module makes the kernel's own fallback device tunl0 in every namespace, the root
# one included: that one is the kernel's, not the lab's (the lab never touches the root namespace).
if ! diff <(cat "$work/root-before.txt") <(grep -vx ' tunl0@NONE' "$work/root-after.txt"); then
  fail "the VM's root namespace changed (diff above)"
fi

say "PASS in $(( $(date +%s) - start )) s: auto chose namespaces, the IPIP matrix passed, rerun changed=0, teardown left nothing"
echo PASS

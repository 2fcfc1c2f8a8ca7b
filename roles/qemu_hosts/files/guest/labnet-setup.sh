#!/bin/sh
# Runs once inside the debootstrapped tree (chroot) when the image is built.
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C

: > /etc/machine-id            # every VM generates its own at first boot
rm -f /var/lib/dbus/machine-id
echo labnet > /etc/hostname
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > /etc/hosts
printf '/dev/vda\t/\text4\trw,noatime,errors=remount-ro\t0\t0\n' > /etc/fstab
passwd -l root >/dev/null

chmod 0755 /usr/local/sbin/labnet-net /etc/initramfs-tools/hooks/labnet
systemctl enable labnet-net.service
# Fast boot: nothing runs that a lab host does not need. BIRD is installed but not started; a role
# that uses it enables it.
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
            e2scrub_reap.service fstrim.timer bird.service iperf3.service getty@tty1.service \
            getty-static.service systemd-pstore.service; do
  systemctl disable "$unit" >/dev/null 2>&1 || true
done
systemctl mask getty@tty1.service getty-static.service >/dev/null
systemctl set-default multi-user.target

# The initramfs was built by the kernel's postinst with our MODULES=list config; rebuild only if not.
for initrd in /boot/initrd.img-*; do
  size=$(stat -c %s "$initrd")
  if [ "$size" -gt 20000000 ]; then
    update-initramfs -u -k all
  fi
done

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /tmp/* /root/.bash_history

for cmd in python3 ip ping tcpdump bird birdc iperf3 sysctl modprobe sshd; do
  command -v "$cmd" >/dev/null || { echo "labnet-setup: $cmd missing from the image" >&2; exit 1; }
done
ls -l /boot
echo "labnet-setup: ok"

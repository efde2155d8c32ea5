#!/usr/bin/env bash
# Runs a command in a container root filesystem the way a runtime does for a restricted Pod, with no
# runtime: PID 1 of a new PID namespace with its own /proc, the root filesystem read-only, PGDATA's
# parent (/var/lib/postgresql/data) and the run dir (/controller) as writable bind mounts, a fresh
# memory-backed /dev/shm, a minimal /dev, and the given uid:gid. The command's exit status is
# returned; stop it by signalling the PID-1 process (the only child of the unshare process that
# this script becomes), as a container runtime does. The caller's environment, PATH included, is
# the one the command gets.
#
# Usage (root): images/run-rootfs.sh ROOTFS DATA_DIR RUN_DIR UID:GID COMMAND [ARG...]
set -euo pipefail
if [ $# -lt 5 ]; then echo "usage: $0 ROOTFS DATA_DIR RUN_DIR UID:GID COMMAND [ARG...]" >&2; exit 2; fi
rootfs=$(realpath "$1") data=$(realpath "$2") rundir=$(realpath "$3") ids=$4
shift 4

# The caller's environment is the container's (PATH included); the tools here are the host's.
container_path=${IM_ROOTFS_CONTAINER_PATH:-$PATH}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Everything below happens in a private mount namespace and vanishes with it.
if [ "${IM_ROOTFS_PRIVATE:-}" != 1 ]; then
  exec unshare --mount --propagation private env IM_ROOTFS_PRIVATE=1 IM_ROOTFS_CONTAINER_PATH="$container_path" "$0" "$rootfs" "$data" "$rundir" "$ids" "$@"
fi
unset IM_ROOTFS_PRIVATE IM_ROOTFS_CONTAINER_PATH

# Volume mount points, as a runtime creates them.
mkdir -p "$rootfs/var/lib/postgresql/data" "$rootfs/controller" "$rootfs/proc" "$rootfs/dev"

# The root filesystem bound onto itself: a mount of its own to make read-only, with nothing made
# on the host to clean up afterwards (this namespace and its mounts end with the command).
top=$rootfs
mount --bind "$rootfs" "$top"
mount -o remount,bind,ro "$top"
mount --bind "$data" "$top/var/lib/postgresql/data"
mount --bind "$rundir" "$top/controller"
mount -t tmpfs -o mode=0755,nosuid,size=64k tmpfs "$top/dev"
for node in null zero full random urandom tty; do
  touch "$top/dev/$node"
  mount --bind "/dev/$node" "$top/dev/$node"
done
ln -s /proc/self/fd "$top/dev/fd"
ln -s /proc/self/fd/0 "$top/dev/stdin"
ln -s /proc/self/fd/1 "$top/dev/stdout"
ln -s /proc/self/fd/2 "$top/dev/stderr"
mkdir "$top/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev,size=256m shm "$top/dev/shm"

# --kill-child: if this process dies, PID 1 (and so the whole namespace) goes with it.
exec unshare --pid --fork --kill-child --mount-proc="$top/proc" chroot --userspec="$ids" "$top" /usr/bin/env PATH="$container_path" "$@"

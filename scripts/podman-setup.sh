#!/usr/bin/env bash
# Makes podman usable for skiff's real-pod tests (test/pods/), idempotently.
#
# It runs podman's own smoke test first: a container from a throw-away root filesystem (the
# host's /bin/true and the libraries ldd lists for it; no image, no registry). Only when that
# fails does it write /etc/containers/containers.conf with the settings that hosts with a hybrid
# cgroup layout and no CAP_SYS_RESOURCE need (runc + cgroupfs, ulimits within the hard limits),
# then runs the smoke test again. A host where podman already works is left untouched.
#
# Then a pod smoke test (`podman pod create` + start, no network): a pod's infra container
# needs a pause binary (catatonit, tini or dumb-init: podman only recommends them, so
# `apt-get install --no-install-recommends podman` leaves them out). If it is missing and this
# runs as root with apt-get, catatonit is installed.
#
# Usage: sudo scripts/podman-setup.sh        (.ci/run calls it as root when it is executable)
set -euo pipefail

conf=/etc/containers/containers.conf

if ! command -v podman >/dev/null 2>&1; then
  echo "podman-setup: podman is not installed; install it with: apt-get install -y podman runc" >&2
  exit 1
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

# A minimal root filesystem holding /true and its shared libraries.
true_bin=$(type -P true)
cp "$true_bin" "$rootfs/true"
for lib in $(ldd "$true_bin" | grep -o '/[^ ]*'); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done

smoke() {
  podman run --rm --network none --rootfs "$rootfs" /true >"$rootfs.log" 2>&1
}

pod_smoke() {
  local name="skiff-setup-smoke-$$"
  podman pod create --network none --name "$name" >"$rootfs.log" 2>&1 &&
    podman pod start "$name" >>"$rootfs.log" 2>&1
  local rc=$?
  podman pod rm -f "$name" >/dev/null 2>&1 || true
  return $rc
}

check_pods() {
  if pod_smoke; then
    echo "podman-setup: pods start" >&2
    rm -f "$rootfs.log"
    return 0
  fi
  if grep -q -i 'catatonit\|pause binary' "$rootfs.log" && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "podman-setup: podman's pod infra needs catatonit; installing it" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends catatonit >/dev/null
    if pod_smoke; then
      echo "podman-setup: pods start" >&2
      rm -f "$rootfs.log"
      return 0
    fi
  fi
  echo "podman-setup: a pod does not start:" >&2
  sed 's/^/  /' "$rootfs.log" >&2
  echo "podman-setup: if it asks for a pause binary, install catatonit (apt-get install catatonit)" >&2
  rm -f "$rootfs.log"
  return 1
}

if smoke; then
  echo "podman-setup: podman works as configured; nothing to change" >&2
  rm -f "$rootfs.log"
  check_pods
  exit $?
fi
echo "podman-setup: podman's smoke run failed:" >&2
sed 's/^/  /' "$rootfs.log" >&2

if [ -e "$conf" ] && ! grep -q '^# written by skiff scripts/podman-setup.sh' "$conf"; then
  echo "podman-setup: $conf exists and was not written by this script; not overwriting it" >&2
  exit 1
fi

# Keep the ulimits at or below the hard limits of this shell (the container cannot raise them
# without CAP_SYS_RESOURCE); nproc is capped at 32768.
hard_nofile=$(ulimit -Hn); [ "$hard_nofile" = unlimited ] && hard_nofile=1048576
hard_nproc=$(ulimit -Hu); [ "$hard_nproc" = unlimited ] && hard_nproc=32768
nofile=$(( hard_nofile < 16384 ? hard_nofile : 16384 ))
nproc=$(( hard_nproc < 16384 ? hard_nproc : 16384 ))

mkdir -p "$(dirname "$conf")"
cat >"$conf" <<CONF
# written by skiff scripts/podman-setup.sh: podman's defaults failed on this host (hybrid cgroup
# layout: "crun: cgroups in hybrid mode not supported"; no CAP_SYS_RESOURCE: "setrlimit
# RLIMIT_NOFILE: Operation not permitted"). See docs/injection.md.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
echo "podman-setup: wrote $conf" >&2

if smoke; then
  echo "podman-setup: podman works now" >&2
  rm -f "$rootfs.log"
  check_pods
  exit $?
fi
echo "podman-setup: podman still fails after writing $conf:" >&2
sed 's/^/  /' "$rootfs.log" >&2
rm -f "$rootfs.log"
exit 1

#!/usr/bin/env bash
# Builds skiff's container image on this machine, with no registry and no network:
# FROM scratch + the pinned Node 24 binary (node_modules/node/bin/node) and the shared libraries
# ldd lists for it, the project's bin/, src/ (without tests), package.json, dist/ (the dashboard
# UI, when built) and the one runtime dependency (node_modules/yaml), /etc/passwd with a
# non-root user (65532) and a writable /tmp.
#
# The image is tagged with a hash of its contents, so an unchanged tree is not rebuilt; then it
# is tagged TAG as well. Prints TAG on stdout.
#
# Usage: scripts/build-image.sh [TAG]      (default TAG: localhost/skiff:dev)
# The Containerfile at the repository root builds the same image anywhere (from npm, not from
# this machine's files).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-localhost/skiff:dev}
node_bin="$root/node_modules/node/bin/node"
runtime_deps=(yaml)

if ! command -v podman >/dev/null 2>&1; then
  echo "build-image: podman is not installed; install it with: apt-get install -y podman runc" >&2
  exit 1
fi
if [ ! -x "$node_bin" ]; then
  echo "build-image: $node_bin is missing; run npm ci first" >&2
  exit 1
fi

# Every file that goes into the image, as paths relative to the repository root.
list_files() {
  cd "$root"
  find bin src -type f ! -name '*.test.ts' ! -path '*/testdata/*' ! -path 'src/dashboard/web/*'
  echo package.json
  [ -d dist ] && find dist -type f
  for dep in "${runtime_deps[@]}"; do find "node_modules/$dep" -type f; done
}

# The content hash: every file's bytes, plus the Node binary's identity (hashing 120 MB each
# time would cost more than it saves) and this script itself.
hash=$(
  {
    list_files | LC_ALL=C sort | (cd "$root" && xargs -d '\n' sha256sum)
    stat -c '%s %Y' "$node_bin"
    sha256sum "$0"
  } | sha256sum | cut -c1-16
)
content_tag="localhost/skiff-build:$hash"

if ! podman image exists "$content_tag"; then
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  rootfs="$ctx/rootfs"
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/app" "$rootfs/etc" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  cp "$node_bin" "$rootfs/usr/local/bin/node"
  for lib in $(ldd "$node_bin" | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  list_files | tar -C "$root" -cf - -T - | tar -C "$rootfs/app" -xf -
  printf 'root:x:0:0:root:/root:/sbin/nologin\nskiff:x:65532:65532:skiff:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nskiff:x:65532:\n' >"$rootfs/etc/group"
  cat >"$ctx/Containerfile" <<'CF'
FROM scratch
COPY rootfs/ /
ENV NODE_ENV=production
USER 65532:65532
WORKDIR /app
EXPOSE 15001 15000 15080 8443
ENTRYPOINT ["/usr/local/bin/node", "/app/bin/skiff.ts"]
CMD ["--help"]
CF
  podman build --quiet --label "io.skiff.content-hash=$hash" -t "$content_tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
fi
podman tag "$content_tag" "$tag"
echo "$tag"

#!/usr/bin/env bash
# Builds Dockerfile.debian on a machine that reaches no container registry.
#
# The Dockerfile's two bases are replaced by local stand-ins committed into buildah's storage under
# the fully qualified names the Dockerfile uses, and the build is pinned to their digests:
#   docker.io/library/debian:bookworm-slim  <- `debootstrap --variant=minbase bookworm` from the
#                                              Debian mirror apt is configured with
#   docker.io/library/node:20-bookworm-slim <- the same root filesystem plus this machine's Node.js
#                                              (node, npm and Node's headers copied from the host:
#                                              no registry, and node-gyp needs no download)
# A third root filesystem, plain Debian with Debian's PostgreSQL packages and no Node.js, is made
# for the smoke test to show the executable runs in a stock PostgreSQL image.
#
# Needs root. Installs debootstrap and buildah with apt-get when they are missing. Everything it
# makes lives under images/out/ (git-ignored) and in buildah's storage; the root filesystems are
# reused by later runs (delete images/out/ to start from scratch).
#
# Usage: images/build-debian.sh            builds localhost/pg-instance-manager:debian
# Env:   PG_MAJOR (15), IMAGE (localhost/pg-instance-manager:debian), SUITE (bookworm), MIRROR
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/images/out
SUITE=${SUITE:-bookworm}
PG_MAJOR=${PG_MAJOR:-15}
IMAGE=${IMAGE:-localhost/pg-instance-manager:debian}
DEBIAN_NAME=docker.io/library/debian:bookworm-slim
NODE_NAME=docker.io/library/node:20-bookworm-slim
say() { echo "images/build-debian: $*" >&2; }

if [ "$(id -u)" != 0 ]; then say "needs root (debootstrap, chroot, buildah)"; exit 1; fi
# The smoke test runs the image in new mount and PID namespaces with a chroot (images/run-rootfs.sh),
# and buildah's chroot isolation needs the same: a sandbox that forbids them fails here, by name,
# before minutes of building, never by skipping the test.
if ! unshare_error=$(unshare --mount --pid --fork --mount-proc true 2>&1); then
  say "cannot create mount and PID namespaces (unshare --mount --pid --fork --mount-proc): $unshare_error"
  say "the image build and its smoke test need them: run as root outside a restricted sandbox"
  exit 1
fi
if ! chroot / true; then say "chroot is not permitted (CAP_SYS_CHROOT)"; exit 1; fi
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v buildah >/dev/null || missing+=(buildah)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Debian mirror apt already uses (deb822 "URIs:" or one-line "deb URL"), security archive excluded.
debian_mirror() {
  if [ -n "${MIRROR:-}" ]; then echo "$MIRROR"; return; fi
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -nE -e 's/^URIs:[[:space:]]+([^[:space:]]+).*/\1/p' -e 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' |
    grep -E '/debian/?$' | head -n1 || true)
  echo "${url:-http://deb.debian.org/debian}"
}

# chroot helper for the stand-ins: package installs need /proc and the host's resolver.
in_root() {
  local dir=$1; shift
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  mount -t proc proc "$dir/proc"
  local status=0
  chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@" || status=$?
  umount "$dir/proc"
  : >"$dir/etc/resolv.conf"
  return $status
}

# An empty directory at DIR; a /proc an interrupted run left mounted there is unmounted first.
fresh_dir() {
  umount "$1/proc" 2>/dev/null || true
  rm -rf --one-file-system "$1"
  mkdir -p "$1"
}

make_minbase() {
  local dir=$OUT/rootfs/debian-slim
  [ -e "$dir/.complete" ] && return
  local mirror; mirror=$(debian_mirror)
  say "debootstrap --variant=minbase $SUITE from $mirror"
  fresh_dir "$dir"
  debootstrap --variant=minbase "$SUITE" "$dir" "$mirror" >"$OUT/debootstrap.log" 2>&1 || { tail -20 "$OUT/debootstrap.log" >&2; exit 1; }
  # Like the real slim image: no package lists, no caches.
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb
  touch "$dir/.complete"
}

# Stock Debian PostgreSQL, no Node.js: where the smoke test drops the bare executable.
make_plain_postgres() {
  local dir=$OUT/rootfs/debian-postgresql-$PG_MAJOR
  [ -e "$dir/.complete" ] && return
  say "plain Debian root filesystem with postgresql-$PG_MAJOR (no Node.js)"
  fresh_dir "$dir"
  cp -a "$OUT/rootfs/debian-slim/." "$dir/"
  rm -f "$dir/.complete"
  mkdir -p "$dir/etc/postgresql-common"
  echo 'create_main_cluster = false' >"$dir/etc/postgresql-common/createcluster.conf"
  in_root "$dir" sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-$PG_MAJOR && apt-get clean && rm -rf /var/lib/apt/lists/*" \
    >"$OUT/plain-postgres.log" 2>&1 || { tail -20 "$OUT/plain-postgres.log" >&2; exit 1; }
  touch "$dir/.complete"
}

# Commits a directory as an image under NAME with the given environment; prints the image's digest.
commit_rootfs() {
  local dir=$1 name=$2 ctr mnt variable
  shift 2
  buildah rmi "$name" >/dev/null 2>&1 || true # the previous stand-in, so rebuilds leave no dangling images
  ctr=$(buildah from --pull=never scratch)
  mnt=$(buildah mount "$ctr")
  tar -C "$dir" --exclude=./.complete -cf - . | tar -C "$mnt" -xf -
  buildah umount "$ctr" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  for variable in "$@"; do buildah config --env "$variable" "$ctr"; done
  buildah commit --quiet --rm "$ctr" "$name" >/dev/null
  buildah inspect --type image --format '{{.FromImageDigest}}' "$name"
}

mkdir -p "$OUT"
started=$SECONDS
make_minbase
# The smoke test's plain root filesystem downloads while the image builds.
make_plain_postgres &
plain_postgres=$!

say "importing the stand-in bases"
debian_digest=$(commit_rootfs "$OUT/rootfs/debian-slim" "$DEBIAN_NAME")

node_dir=$OUT/rootfs/node-20
fresh_dir "$node_dir"
cp -a "$OUT/rootfs/debian-slim/." "$node_dir/"
node_bin=$(readlink -f "$(command -v node)")
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != 20 ]; then say "the host's Node is $("$node_bin" -v); the build stage wants Node 20"; exit 1; fi
install -m 0755 "$node_bin" "$node_dir/usr/local/bin/node"
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
mkdir -p "$node_dir/usr/local/lib/node_modules"
cp -a "$npm_dir" "$node_dir/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$node_dir/usr/local/bin/npm"
# node-gyp builds the reaper addon in the build stage against Node's headers: the real node image
# has them in /usr/local/include/node (node-gyp would download them otherwise); the stand-in gets
# the host's and npm is told where they are, so no download from nodejs.org is needed.
node_headers=$(dirname "$(dirname "$node_bin")")/include/node
if [ ! -e "$node_headers/common.gypi" ]; then say "no Node.js headers at $node_headers (node-gyp needs them for the reaper addon)"; exit 1; fi
mkdir -p "$node_dir/usr/local/include"
cp -a "$node_headers" "$node_dir/usr/local/include/node"
# npm in the build stage reaches the npm registry as this machine does: with this machine's CA
# bundle (which, behind a TLS-inspecting proxy, holds the proxy's CA; the real node image needs none).
mkdir -p "$node_dir/etc/ssl/certs"
cp "$(readlink -f /etc/ssl/certs/ca-certificates.crt)" "$node_dir/etc/ssl/certs/ca-certificates.crt"
node_digest=$(commit_rootfs "$node_dir" "$NODE_NAME" NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt npm_config_nodedir=/usr/local)
rm -rf "$node_dir"

say "buildah bud --isolation chroot -f Dockerfile.debian -> $IMAGE"
buildah rmi "$IMAGE" >/dev/null 2>&1 || true
buildah bud --isolation chroot --pull=never --layers=false \
  --build-arg "DEBIAN_DIGEST=$debian_digest" \
  --build-arg "NODE_DIGEST=$node_digest" \
  --build-arg "PG_MAJOR=$PG_MAJOR" \
  --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -f Dockerfile.debian -t "$IMAGE" . >"$OUT/bud.log" 2>&1 || { tail -40 "$OUT/bud.log" >&2; exit 1; }
wait "$plain_postgres" || { say "the plain PostgreSQL root filesystem failed (see $OUT/plain-postgres.log)"; exit 1; }
say "built $IMAGE in $((SECONDS - started)) s; $(buildah inspect --type image --format '{{.FromImageDigest}}' "$IMAGE")"

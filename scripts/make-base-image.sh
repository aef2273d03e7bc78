#!/usr/bin/env bash
# A local stand-in for node:20-bookworm-slim, for building docker/Dockerfile where Docker Hub cannot be
# reached (tests, CI): a Debian bookworm root file system from debootstrap (--variant=minbase) with this
# machine's own Node.js (node, its headers and npm under /usr/local, where the official image has them),
# imported into the Docker daemon that DOCKER_HOST names.
#
#   scripts/make-base-image.sh [TAG]     default TAG: berth-test/base:bookworm
#   docker build --build-arg BASE=berth-test/base:bookworm -f docker/Dockerfile .
#
# stdout is only the tag; progress goes to stderr. Run as root (debootstrap, chroot).
#
# What differs from the official image, and why:
# - npm's global config (/usr/local/etc/npmrc) sets `nodedir=/usr/local`, so node-gyp compiles
#   better-sqlite3 against the headers in the image instead of downloading them from nodejs.org (which,
#   like GitHub's prebuilt binaries, may be out of reach), and `cafile` to this machine's CA bundle
#   (/usr/local/etc/ssl/host-ca-certificates.crt), so npm trusts what this machine trusts on its way to
#   the npm registry (for example a TLS-intercepting egress proxy). Nothing else of the host is copied:
#   no npm credentials, no ~/.npmrc.
# - No python3, make or g++: like the official slim image, the Dockerfile's build stage installs them
#   with apt from the Debian mirror debootstrap used (its /etc/apt/sources.list).
#
# Idempotent and cached: nothing happens when the daemon already has TAG. Otherwise the root file
# system is imported from a tarball cached under BASE_IMAGE_CACHE, built first when missing (about a
# minute of debootstrap). The tarball's name carries the Node.js version, architecture and this
# script's format number, so a different Node.js makes a new one. Calls take turns through a lock file.
#
# Environment (all optional; names must not start with BERTH_, which Berth reserves for its settings):
#   BASE_IMAGE_MIRROR   Debian archive for debootstrap   default: the machine's apt source for
#                       bookworm (/etc/apt/sources.list, sources.list.d/*.list, *.sources), else
#                       http://deb.debian.org/debian
#   BASE_IMAGE_CACHE    directory of cached tarballs     default ${XDG_CACHE_HOME:-$HOME/.cache}/berth-base-image
#   BASE_IMAGE_NODE     the node binary to copy          default: `node` on PATH
#   DOCKER              the docker client                default: `docker` on PATH
set -euo pipefail

TAG=${1:-berth-test/base:bookworm}
SUITE=bookworm
FORMAT=1 # bump when the root file system's contents change
CACHE=${BASE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-base-image}
DOCKER=${DOCKER:-docker}

STARTED_AT=$(date +%s%N)
say() { printf '[make-base-image %6.2fs] %s\n' "$((($(date +%s%N) - STARTED_AT) / 1000000))e-3" "$*" >&2; }
fail() {
  say "ERROR: $*"
  exit 1
}

if "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  say "$TAG already exists in the daemon"
  printf '%s\n' "$TAG"
  exit 0
fi

# The machine's Debian mirror for $SUITE: one-line entries (`deb [options] URI SUITE COMPONENTS`) first,
# then deb822 stanzas (Types: deb, URIs:, Suites: including SUITE).
apt_mirror() {
  local lists=() sources=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [ -f "$f" ] && lists+=("$f"); done
  for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && sources+=("$f"); done
  if [ "${#lists[@]}" -gt 0 ]; then
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "${lists[@]}" |
      awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }'
  fi
  if [ "${#sources[@]}" -gt 0 ]; then
    cat "${sources[@]}" | awk -v suite="$SUITE" '
      function flush() {
        if (!found && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "") {
          split(uris, u, " "); print u[1]; found = 1
        }
        types = ""; uris = ""; suites = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:" { $1 = ""; types = $0 }
      tolower($1) == "uris:" { $1 = ""; uris = $0 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      END { flush() }'
  fi
}

NODE=${BASE_IMAGE_NODE:-$(command -v node || true)}
[ -n "$NODE" ] || fail "node is not on PATH (set BASE_IMAGE_NODE)"
NODE=$(readlink -f "$NODE")
NODE_PREFIX=$(dirname "$(dirname "$NODE")")
NODE_VERSION=$("$NODE" --version)
NPM_DIR=$NODE_PREFIX/lib/node_modules/npm
[ -f "$NODE_PREFIX/include/node/node_version.h" ] ||
  fail "no Node.js headers at $NODE_PREFIX/include/node (needed to compile better-sqlite3 offline)"
[ -f "$NPM_DIR/bin/npm-cli.js" ] || fail "no npm at $NPM_DIR"
HOST_CA=/etc/ssl/certs/ca-certificates.crt
[ -f "$HOST_CA" ] || fail "no CA bundle at $HOST_CA (apt-get install -y ca-certificates)"

ARCH=$(dpkg --print-architecture)
TARBALL=$CACHE/$SUITE-node$NODE_VERSION-$ARCH-v$FORMAT.tar
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9

if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || PATH=$PATH:/usr/sbin:/sbin
  command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install -y debootstrap)"
  [ "$(id -u)" = 0 ] || fail "debootstrap needs root"
  MIRROR=${BASE_IMAGE_MIRROR:-$(apt_mirror | head -n 1)}
  MIRROR=${MIRROR:-http://deb.debian.org/debian}

  WORK=$(mktemp -d /tmp/berth-base-XXXXXX)
  ROOT=$WORK/root
  cleanup() {
    # debootstrap mounts /proc and /sys inside the tree while it works; never delete through them.
    { grep -o " $WORK/[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r point; do
      umount -l "$point" || true
    done
    rm -rf --one-file-system "$WORK"
  }
  trap cleanup EXIT

  say "debootstrap --variant=minbase $SUITE from $MIRROR"
  if ! debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2
    fail "debootstrap failed"
  fi

  say "adding Node.js $NODE_VERSION from $NODE_PREFIX"
  install -d "$ROOT/usr/local/bin" "$ROOT/usr/local/include" "$ROOT/usr/local/lib/node_modules" \
    "$ROOT/usr/local/etc/ssl"
  install -m 0755 "$NODE" "$ROOT/usr/local/bin/node"
  cp -a "$NODE_PREFIX/include/node" "$ROOT/usr/local/include/node"
  cp -a "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
  install -m 0644 "$HOST_CA" "$ROOT/usr/local/etc/ssl/host-ca-certificates.crt"
  printf '%s\n' 'nodedir=/usr/local' 'cafile=/usr/local/etc/ssl/host-ca-certificates.crt' \
    'update-notifier=false' 'fund=false' >"$ROOT/usr/local/etc/npmrc"

  # Node needs nothing beyond minbase (libstdc++6 and libgcc-s1 come with apt); prove it runs there.
  CHROOT=$(PATH=$PATH:/usr/sbin:/sbin command -v chroot) || fail "chroot is missing"
  in_root() { env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "$CHROOT" "$ROOT" "$@"; }
  if ! in_root node -e 'process.exit(0)' 2>"$WORK/node.err"; then
    cat "$WORK/node.err" >&2
    ldd "$NODE" >&2 || true
    fail "node does not run in the minbase tree: add the missing libraries' packages to debootstrap --include"
  fi
  in_root npm --version >/dev/null ||
    fail "npm does not run in the minbase tree"

  rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/tmp/* "$ROOT"/root/.npm
  say "writing $TARBALL"
  tar -C "$ROOT" --numeric-owner -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  cleanup
  trap - EXIT
fi

say "importing $TARBALL as $TAG"
"$DOCKER" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  --message "debootstrap --variant=minbase $SUITE + Node.js $NODE_VERSION (scripts/make-base-image.sh)" \
  "$TARBALL" "$TAG" >/dev/null
say "done"
printf '%s\n' "$TAG"

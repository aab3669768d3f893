#!/usr/bin/env bash
# Builds the chargectl container image without a registry or a container engine, from Debian's
# own tools: debootstrap makes a minimal Debian root filesystem with Python, the wheels are built
# on this machine (the build stage, which has the compilers), installed offline into a venv
# inside that root (the final stage, which has none), and umoci assembles the two as layers of
# an OCI image. Same shape as the Dockerfile, for machines without Docker.
#
#   deploy/image/build.sh            (or: make image)
#
# Writes build/image/oci (an OCI image layout, tag = the package version) and
# build/image/chargectl-VERSION.tar (docker-archive, for `docker load` or `kind load
# image-archive`). Push with: skopeo copy oci:build/image/oci:VERSION docker://REGISTRY/chargectl:VERSION
#
# Needs root (debootstrap, chroot). Installs debootstrap, umoci and skopeo with apt-get when they
# are missing. The Debian base is kept in build/image/base and reused; FRESH=1 rebuilds it.
# DEBIAN_MIRROR overrides the mirror, which is otherwise the one apt uses on this machine.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build/image
SUITE=${SUITE:-bookworm}
PACKAGES=python3,python3-venv,ca-certificates,tzdata
UID_GID=10001:10001
PYTHON=${PYTHON:-python3}
started=$SECONDS

say() { printf '\n==> %s\n' "$*"; }
# /dev is bind-mounted into a root while apt or pip runs there: unmount whatever is mounted
# under a directory before removing it (and rm stays on one file system besides).
unmount_under() {
  local dir mounts
  dir=$(realpath -m "$1")
  mounts=$(awk -v dir="$dir/" 'index($5 "/", dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  for mount in $mounts; do umount -R "$mount" 2>/dev/null || umount -l "$mount"; done
}
remove() { unmount_under "$1"; rm -rf --one-file-system "$1"; }
trap 'unmount_under "$OUT"' EXIT
clean_env() { env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

if [ "$(id -u)" != 0 ]; then
  echo "build.sh: needs root (debootstrap and chroot)" >&2
  exit 1
fi

missing=()
for tool in debootstrap:debootstrap umoci:umoci skopeo:skopeo; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The mirror apt uses here (a deb822 .sources file or a one-line sources.list), for the suite.
apt_mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v suite="$SUITE" '
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = uri }
      /^$/ { if (found) { print found; exit } uri = "" }
      END { if (found) print found }' "$file" | head -n1
  done
  if [ -f /etc/apt/sources.list ]; then
    awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list
  fi
}
MIRROR=${DEBIAN_MIRROR:-$(apt_mirror | head -n1)}

# --- the build stage: wheels for chargectl and everything it needs -------------------------------
say "building wheels (chargectl[kubernetes] and its dependencies)"
remove "$OUT/wheels"
mkdir -p "$OUT/wheels"
"$PYTHON" -m pip wheel --disable-pip-version-check --wheel-dir "$OUT/wheels" ".[kubernetes]" \
  >"$OUT/pip-wheel.log" 2>&1 || { tail -30 "$OUT/pip-wheel.log"; exit 1; }
wheel=$(ls "$OUT"/wheels/chargectl-*.whl)
VERSION=$(basename "$wheel" | cut -d- -f2)
echo "chargectl $VERSION; $(ls "$OUT/wheels" | wc -l) wheels"

# --- the base: a minimal Debian with Python -------------------------------------------------------
BASE=$OUT/base
if [ -n "${FRESH:-}" ] || [ ! -f "$BASE/.complete" ] || [ "$(cat "$BASE/.complete")" != "$SUITE $PACKAGES" ]; then
  say "debootstrap --variant=minbase $SUITE (${MIRROR:-the default mirror of debootstrap})"
  remove "$BASE"
  mkdir -p "$BASE"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$BASE/rootfs" ${MIRROR:+"$MIRROR"} \
    >"$OUT/debootstrap.log" 2>&1 || { tail -20 "$OUT/debootstrap.log"; exit 1; }
  rootfs=$BASE/rootfs
  # Security and point-release updates, from the sources this machine uses when they are for
  # the same suite (deb822 files name their suites).
  if grep -qs "^Suites:.*\b$SUITE-security\b" /etc/apt/sources.list.d/*.sources; then
    say "applying $SUITE-security and $SUITE-updates"
    cp /etc/apt/sources.list.d/*.sources "$rootfs/etc/apt/sources.list.d/"
    for file in "$rootfs"/etc/apt/sources.list.d/*.sources; do
      grep -q "^Suites:.*\b$SUITE\b" "$file" || rm -f "$file"
    done
    rm -f "$rootfs/etc/apt/sources.list"
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    mount --rbind /dev "$rootfs/dev"
    clean_env DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get update -qq
    clean_env DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get upgrade -y -qq >/dev/null
    umount -R "$rootfs/dev"
  fi
  # The user the image runs as (the chart's runAsUser), with no login and no home of its own.
  echo "chargectl:x:${UID_GID#*:}:" >>"$rootfs/etc/group"
  echo "chargectl:x:${UID_GID%%:*}:${UID_GID#*:}:chargectl:/var/lib/chargectl:/usr/sbin/nologin" >>"$rootfs/etc/passwd"
  echo "chargectl:!:19000::::::" >>"$rootfs/etc/shadow"
  install -d -o "${UID_GID%%:*}" -g "${UID_GID#*:}" -m 0750 "$rootfs/var/lib/chargectl"
  # What a container does not need: package caches and lists, documentation (licences kept),
  # device nodes (the runtime provides /dev), the build machine's resolver.
  rm -rf --one-file-system "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/tmp/* "$rootfs"/dev/*
  find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
  find "$rootfs/usr/share/doc" -type d -empty -delete
  : >"$rootfs/etc/resolv.conf"
  echo "$SUITE $PACKAGES" >"$BASE/.complete"
else
  say "reusing the $SUITE base in $BASE (FRESH=1 rebuilds it)"
fi

# --- the final stage: the venv, installed offline into a copy of the base -------------------------
say "installing chargectl into /opt/chargectl (offline, from the wheels; no compiler in the image)"
WORK=$OUT/work
remove "$WORK"
mkdir -p "$WORK"
cp -a "$BASE/rootfs" "$WORK/rootfs"
mkdir -p "$WORK/rootfs/tmp/wheels"
cp "$OUT"/wheels/*.whl "$WORK/rootfs/tmp/wheels/"
mount --rbind /dev "$WORK/rootfs/dev"
clean_env chroot "$WORK/rootfs" python3 -m venv /opt/chargectl
clean_env chroot "$WORK/rootfs" /opt/chargectl/bin/pip install --quiet --no-cache-dir \
  --disable-pip-version-check --no-index --find-links /tmp/wheels "chargectl[kubernetes]==$VERSION"
# An installer is not needed to run chargectl: pip and setuptools leave the venv.
clean_env chroot "$WORK/rootfs" /opt/chargectl/bin/python -m pip uninstall --quiet --yes pip setuptools
umount -R "$WORK/rootfs/dev"

# --- the image ------------------------------------------------------------------------------------
say "assembling the OCI image (umoci): build/image/oci:$VERSION"
LAYOUT=$OUT/oci
remove "$LAYOUT"
umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$VERSION"
umoci insert --image "$LAYOUT:$VERSION" --history.comment "debootstrap --variant=minbase $SUITE: $PACKAGES" \
  "$BASE/rootfs" /
umoci insert --image "$LAYOUT:$VERSION" --history.comment "chargectl $VERSION and its dependencies in a venv" \
  "$WORK/rootfs/opt/chargectl" /opt/chargectl
umoci config --image "$LAYOUT:$VERSION" \
  --config.user "$UID_GID" \
  --config.entrypoint /opt/chargectl/bin/chargectl \
  --config.cmd --help \
  --config.workingdir /var/lib/chargectl \
  --config.env PATH=/opt/chargectl/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.env PYTHONDONTWRITEBYTECODE=1 \
  --config.env PYTHONUNBUFFERED=1 \
  --config.env LANG=C.UTF-8 \
  --config.exposedports 9000/tcp --config.exposedports 8080/tcp --config.exposedports 8081/tcp \
  --config.volume /var/lib/chargectl \
  --config.label org.opencontainers.image.title=chargectl \
  --config.label org.opencontainers.image.version="$VERSION" \
  --config.label org.opencontainers.image.licenses=Apache-2.0 \
  --config.label org.opencontainers.image.base.name="debian:$SUITE (debootstrap minbase)" \
  --history.comment "user, entrypoint, environment, ports"
umoci gc --layout "$LAYOUT"

say "writing build/image/chargectl-$VERSION.tar (docker-archive)"
rm -f "$OUT/chargectl-$VERSION.tar"
skopeo copy --quiet "oci:$LAYOUT:$VERSION" "docker-archive:$OUT/chargectl-$VERSION.tar:chargectl:$VERSION"
remove "$WORK"

say "done in $((SECONDS - started)) s"
du -sh "$LAYOUT" "$OUT/chargectl-$VERSION.tar" | sed 's/^/  /'
echo "  layers (compressed): $(skopeo inspect --raw "oci:$LAYOUT:$VERSION" | "$PYTHON" -c 'import json, sys; print(", ".join("%d MB" % (layer["size"] / 1e6) for layer in json.load(sys.stdin)["layers"]))')"
echo "  check it: make image-check"

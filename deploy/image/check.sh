#!/usr/bin/env bash
# Checks the image `make image` built, from the image alone: unpacks build/image/oci with umoci
# and runs, inside its root filesystem (chroot, in a mount namespace of its own with the root
# mounted read-only, as the chart runs it), what the image's own config says to run, as the
# image's user. Then: chargectl --version, the package and its native dependencies import,
# `chargectl validate` on the example fleet, and no compiler in the image.
#
#   deploy/image/check.sh            (or: make image-check; builds the image first if missing)
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build/image
LAYOUT=$OUT/oci
PYTHON=${PYTHON:-python3}
started=$SECONDS

if [ "$(id -u)" != 0 ]; then
  echo "check.sh: needs root (umoci unpack keeps owners; chroot)" >&2
  exit 1
fi
if [ ! -f "$LAYOUT/index.json" ]; then
  "$ROOT/deploy/image/build.sh"
fi
TAG=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$LAYOUT/index.json")

BUNDLE=$OUT/check
rm -rf --one-file-system "$BUNDLE"
umoci unpack --image "$LAYOUT:$TAG" "$BUNDLE" >/dev/null
ROOTFS=$BUNDLE/rootfs
# The example fleet, beside the root filesystem: each run copies it onto the run's /tmp.
cp -r examples/fleet "$BUNDLE/fleet"

# What the image says to run: entrypoint, environment, user, working directory (umoci writes
# them into the bundle's runtime config).
read -r USER_ID GROUP_ID CWD ENTRYPOINT < <("$PYTHON" - "$BUNDLE/config.json" <<'PY'
import json, sys
process = json.load(open(sys.argv[1]))["process"]
print(process["user"]["uid"], process["user"]["gid"], process["cwd"], process["args"][0])
PY
)
mapfile -t IMAGE_ENV < <("$PYTHON" -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["process"]["env"]))' "$BUNDLE/config.json")

# The command line that runs ARGS in the image as its user, with its environment, the root
# read-only, /tmp a fresh tmpfs and /dev the host's, in a mount namespace of its own (unshare),
# so nothing mounted here outlives it. The command is unshare's only child, with the same PID
# from the shell to chargectl (each execs the next).
image_command() {
  COMMAND=(unshare --mount --fork -- sh -c '
    set -e
    rootfs=$1; shift
    mount --bind "$rootfs" "$rootfs"
    mount -o remount,bind,ro "$rootfs"
    mount --rbind /dev "$rootfs/dev"
    mount -t proc proc "$rootfs/proc"
    mount -t tmpfs -o size=64m tmpfs "$rootfs/tmp"
    cp -r "$rootfs/../fleet" "$rootfs/tmp/fleet"
    exec "$@"
  ' sh "$ROOTFS" env -i "${IMAGE_ENV[@]}" chroot --userspec="$USER_ID:$GROUP_ID" "$ROOTFS"
    /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$CWD" "$@")
}
in_image() {
  image_command "$@"
  "${COMMAND[@]}"
}

echo "image $LAYOUT:$TAG: user $USER_ID:$GROUP_ID, cwd $CWD, entrypoint $ENTRYPOINT"

echo "--- chargectl --version"
version=$(in_image "$ENTRYPOINT" --version)
echo "$version"
case $version in
  "chargectl, version $TAG") ;;
  *) echo "FAIL: expected 'chargectl, version $TAG'" >&2; exit 1 ;;
esac

echo "--- the package and its native dependencies"
in_image python -c '
import importlib.metadata as metadata, os, sys, zoneinfo
import controller, kopf, kubernetes, uvloop, asyncpg, aiosqlite, orjson, pydantic_core, cryptography
import ruamel.yaml, sqlite3, ssl
dist = metadata.distribution("chargectl")
print(f"chargectl {dist.version} at {os.path.dirname(controller.__file__)}")
print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, {ssl.OPENSSL_VERSION}")
print("kopf", metadata.version("kopf"), "kubernetes", metadata.version("kubernetes"))
print("timezone", zoneinfo.ZoneInfo("Europe/Amsterdam"))
print("uid", os.getuid(), "root writable:", os.access("/", os.W_OK), "tmp writable:", os.access("/tmp", os.W_OK))
installers = [name for name in ("pip", "setuptools") if any(d.metadata["Name"] == name for d in metadata.distributions())]
assert not installers, installers
'

echo "--- chargectl validate (the example fleet)"
in_image chargectl validate /tmp/fleet | tail -n 1

echo "--- chargectl serve: starts as the image's user on the read-only root, answers /healthz"
ports=$("$PYTHON" -c 'import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))')
read -r OCPP_PORT HTTP_PORT <<<"$ports"
image_command chargectl serve /tmp/fleet --store sqlite:////tmp/chargectl.db --admin off \
  --listen "127.0.0.1:$OCPP_PORT" --http "127.0.0.1:$HTTP_PORT"
"${COMMAND[@]}" >"$BUNDLE/serve.log" 2>&1 &
unshare_pid=$!
answer=$("$PYTHON" - "$HTTP_PORT" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 30
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=2) as reply:
            print(reply.status, reply.read().decode().strip()[:80])
            break
    except OSError:
        if time.monotonic() > deadline:
            print("no answer in 30 s")
            break
        time.sleep(0.3)
PY
)
# SIGTERM, as the kubelet stops a container; unshare ends when its child does.
serve_pid=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null || true)
stopping=$SECONDS
if [ -n "$serve_pid" ]; then
  kill -TERM $serve_pid 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 $serve_pid 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 $serve_pid 2>/dev/null; then
    echo "FAIL: serve did not stop within 20 s of SIGTERM" >&2
    kill -KILL $serve_pid
    exit 1
  fi
fi
wait "$unshare_pid" 2>/dev/null || true
echo "/healthz: $answer; stopped in $((SECONDS - stopping)) s: $(tail -n 1 "$BUNDLE/serve.log" | cut -c1-100)"
case $answer in
  200*) ;;
  *) echo "FAIL: serve did not answer; its log:" >&2; tail -20 "$BUNDLE/serve.log" >&2; exit 1 ;;
esac

echo "--- no compiler"
found=$(cd "$ROOTFS" && ls usr/bin/gcc* usr/bin/cc usr/bin/c++ usr/bin/g++* usr/bin/clang* usr/bin/make usr/bin/ld 2>/dev/null || true)
if [ -n "$found" ]; then
  echo "FAIL: compilers in the image: $found" >&2
  exit 1
fi
echo "none (gcc, cc, c++, clang, make, ld)"

[ -n "${KEEP:-}" ] || rm -rf --one-file-system "$BUNDLE"
echo "--- image checked in $((SECONDS - started)) s"

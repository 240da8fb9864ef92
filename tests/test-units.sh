#!/bin/bash
# The systemd user unit and the D-Bus activation file, as configured in the
# build tree: systemd-analyze --user verify has nothing to say about the unit,
# and the activation file names the bus name, the unit and the same binary.
#
# Usage: test-units.sh UNIT ACTIVATION_FILE BEACH_MANAGER
# TAP output; a plan of 1..0 # SKIP when systemd-analyze is missing or
# cannot run here.

set -u

unit=$1
activation=$2
binary=$3

n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
diag () { sed 's/^/# /'; }

# Value of KEY= in FILE (the last one wins, as in systemd).
key () { sed -n "s/^$2=//p" "$1" | tail -n 1; }

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "1..0 # SKIP systemd-analyze not installed"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --user needs a runtime directory; with no user manager running (CI, root in
# a container) a private one is enough, and a private HOME and config dir
# keep units of the person running the tests out of the way. No bus
# connection is made: verify loads the unit files and nothing else.
mkdir -p "$tmp/runtime" "$tmp/home" "$tmp/units"
chmod 0700 "$tmp/runtime"
export XDG_RUNTIME_DIR=$tmp/runtime HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config
unset DBUS_SESSION_BUS_ADDRESS
export SYSTEMD_LOG_LEVEL=notice SYSTEMD_PAGER=cat LC_ALL=C

# ExecStart points at the install bindir, which may not exist yet: verify
# checks that the binary does, so a copy runs the one in the build tree.
installed=$(key "$unit" ExecStart)
installed=${installed%% *}
sed "s|^ExecStart=$installed|ExecStart=$binary|" "$unit" > "$tmp/units/beach-manager.service"

out=$(systemd-analyze --user verify --man=no "$tmp/units/beach-manager.service" 2>&1)
status=$?
if [ $status -ne 0 ]; then
  # Failing to start the analysis at all (no manager can be set up here) is
  # not a finding about the unit.
  if grep -q -i -E 'failed to (initialize|allocate) manager|failed to look ?up runtimedirectory' <<<"$out"; then
    echo "1..0 # SKIP systemd-analyze --user verify cannot run here: $(head -n 1 <<<"$out")"
    exit 0
  fi
  echo "1..5"
  not_ok "systemd-analyze --user verify exits 0 (it exited $status)"
  diag <<<"$out"
else
  echo "1..5"
  # Every line verify prints is a warning or an error; those naming this
  # unit (or its file) fail the test, those about units of the host it pulls
  # in (dbus.socket, basic.target, ...) are only shown.
  if grep -q -F beach-manager <<<"$out"; then
    not_ok "systemd-analyze --user verify has no warning about the unit"
  else
    ok "systemd-analyze --user verify has no warning about the unit"
  fi
  [ -n "$out" ] && diag <<<"$out"
fi

if [ "$(key "$activation" Name)" = sh.beach.Manager1 ]; then
  ok "activation file: Name=sh.beach.Manager1"
else
  not_ok "activation file: Name=sh.beach.Manager1"
  diag < "$activation"
fi

if [ "$(key "$activation" SystemdService)" = beach-manager.service ]; then
  ok "activation file: SystemdService=beach-manager.service"
else
  not_ok "activation file: SystemdService=beach-manager.service"
  diag < "$activation"
fi

exec_bin=$(key "$activation" Exec)
exec_bin=${exec_bin%% *}
if [ -n "$exec_bin" ] && [ "$exec_bin" = "$installed" ]; then
  ok "activation file Exec ($exec_bin) is the unit's ExecStart"
else
  not_ok "activation file Exec ($exec_bin) is the unit's ExecStart ($installed)"
fi

if [ "$(key "$unit" BusName)" = "$(key "$activation" Name)" ]; then
  ok "unit BusName= is the activation file's Name="
else
  not_ok "unit BusName= is the activation file's Name="
fi

exit $failed

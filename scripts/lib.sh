# shellcheck shell=bash
# Shared by scripts/run and scripts/test: install what is missing, then build.

BEACH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

beach_say () { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# beach_install_sets SET... : apt-get install the packages of those sets that
# are not installed yet; nothing at all when every one is there.
beach_install_sets () {
  local want=() missing=() pkg set
  for set in "$@"; do
    while read -r s pkg _; do
      [ "$s" = "$set" ] && want+=("$pkg")
    done < <(grep -v '^[[:space:]]*#' "$BEACH_TOP/scripts/packages.txt")
  done
  for pkg in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  beach_say "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# beach_build DIR [MESON-ARGS...]: configure once, then compile.
beach_build () {
  local dir=$1; shift
  if [ ! -f "$BEACH_TOP/$dir/build.ninja" ]; then
    beach_say "meson setup $dir $*"
    meson setup "$BEACH_TOP/$dir" "$BEACH_TOP" "$@"
  fi
  beach_say "building $dir"
  meson compile -C "$BEACH_TOP/$dir"
}

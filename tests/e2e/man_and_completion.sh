#!/usr/bin/env bash
# The man pages and bash completions the build generates from each command's --help
# (packaging/CMakeLists.txt): every tool in the build's bin/ and vr-pipeline has both; the man
# page renders with man(1) and lists every option; the completion script loads in bash,
# completes every option its command's --help lists (found here independently of the
# generator), offers a choice option's values, and completes file names for a path option.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
repo_root="${VR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${VR_BIN_DIR:-$repo_root/build/bin}"
share="$bin/../share"
command -v man >/dev/null || skip "man (man-db) is not installed"
[ -d "$share/man/man1" ] || skip "no generated man pages in $share/man/man1 (help2man missing when the build was configured; scripts/install-deps.sh installs it)"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The options a --help text lists: CLI11's option lines ("  -k,--k INT [10]") and a usage
# line's bracketed options ("[--keep N]").
options_in_help() {
  { grep -E '^\s+-' | grep -oE '^\s+-[^ ]+' | tr ',' '\n' | tr -d ' ' | grep -E '^-'; } <<< "$1" || true
  grep -oE '\[--?[a-z][a-z0-9-]*' <<< "$1" | tr -d '[' || true
}

# COMPREPLY for the words given, after loading the completion script.
complete_words() {  # complete_words SCRIPT WORD...
  local script="$1"; shift
  bash -c '
    source "$1"; shift
    function_name=$(complete -p "$1" | sed -E "s/.* -F ([^ ]+) .*/\1/")
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    "$function_name" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}"' completion "$script" "$@"
}

commands=()
for tool in "$bin"/vr-*; do commands+=("$(basename "$tool")"); done
commands+=(vr-pipeline)
[ ${#commands[@]} -ge 7 ] || fail "expected the six tools and vr-pipeline, found ${commands[*]}"
for command in "${commands[@]}"; do
  if [ "$command" = vr-pipeline ]; then help="$(bash "$repo_root/scripts/pipeline.sh" --help 2>&1)"
  else help="$("$bin/$command" --help 2>&1)"; fi
  mapfile -t options < <(options_in_help "$help" | sort -u)
  [ ${#options[@]} -ge 1 ] || { fail "$command: no options found in --help"; continue; }

  page="$share/man/man1/$command.1"
  if [ -s "$page" ]; then
    rendered="$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)"
    grep -q "^NAME" <<< "$rendered" || fail "$command: man page has no NAME section"
    for option in "${options[@]}"; do
      grep -qF -- "$option" <<< "$rendered" || fail "$command: man page lacks $option"
    done
  else
    fail "$command: no man page $page"
  fi

  script="$share/bash-completion/completions/$command"
  if [ ! -s "$script" ]; then fail "$command: no completion $script"; continue; fi
  bash -n "$script" || fail "$command: completion script does not parse"
  completed="$(complete_words "$script" "$command" - | sort -u)"
  for option in "${options[@]}"; do
    grep -qxF -- "$option" <<< "$completed" || fail "$command: '$command -<Tab>' does not offer $option"
  done
  echo "ok: $command: man page and completion of ${#options[@]} options"
done

# Values: a choice option offers its choices; a path option completes file names.
if [ -x "$bin/vr-train" ]; then
  choices="$(complete_words "$share/bash-completion/completions/vr-train" vr-train --solver "")"
  grep -qx cg <<< "$choices" && grep -qx cholesky <<< "$choices" \
    || fail "vr-train --solver <Tab> offers $(tr '\n' ' ' <<< "$choices")"
  files="$(cd "$repo_root" && complete_words "$share/bash-completion/completions/vr-train" vr-train --dir da)"
  grep -qx data <<< "$files" || fail "vr-train --dir da<Tab> does not complete the folder data ($files)"
  numbers="$(complete_words "$share/bash-completion/completions/vr-train" vr-train --factors "")"
  [ -z "$numbers" ] || fail "vr-train --factors <Tab> offers '$numbers' (a number: nothing to complete)"
fi

[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "all man pages and completions checked"

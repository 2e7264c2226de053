#!/usr/bin/env python3
"""Writes a bash completion script for one vr command from its --help text.

    gen-completion.py NAME OUTPUT COMMAND [ARGS...]

runs `COMMAND ARGS... --help` and completes every option it lists: option names after a dash;
after an option, its choices ({a,b} in CLI11's help), nothing for numbers (INT, UINT, FLOAT,
N), file names for anything else; file names for positionals. Generated at build time, so the
completion never drifts from the options.
"""
import re
import subprocess
import sys

NUMBER_TYPES = {"INT", "UINT", "FLOAT", "NUMBER", "N", "DOUBLE", "SIZE"}


def parse_help(text):
    """(option names, {option: choices list}, set of options that take a number, set of value options)."""
    names, choices, numeric, takes_value = [], {}, set(), set()
    for line in text.splitlines():
        # CLI11: "  -k,--k INT=10   description", "  --solver TEXT:{cg,cholesky}=cg", "  --quiet   description":
        # the value's type follows the names after one space; the description after two or more.
        match = re.match(r"^\s+(-[\w-]+(?:,\s*-[\w-]+)*)(?: (\S.*?))?(?:\s{2,}.*)?$", line)
        if match:
            options = [name.strip() for name in match.group(1).split(",")]
            value_type = match.group(2) or ""
            if not re.match(r"^[A-Z]", value_type):
                value_type = ""
            for option in options:
                if option not in names:
                    names.append(option)
                if value_type:
                    takes_value.add(option)
                    braces = re.search(r"\{([^}]*)\}", value_type)
                    if braces:
                        choices[option] = [c.split("->")[0].strip() for c in braces.group(1).split(",") if c.strip()]
                    elif re.split(r"[:= ]", value_type)[0] in NUMBER_TYPES:
                        numeric.add(option)
            continue
        # A plain usage line, as vr-pipeline's: "vr-pipeline [--keep N] [--factors N] IN OUT".
        for option, value in re.findall(r"\[(--?[\w-]+)(?:\s+([A-Z_]+))?\]", line):
            if option not in names:
                names.append(option)
            if value:
                takes_value.add(option)
                if value in NUMBER_TYPES:
                    numeric.add(option)
    return names, choices, numeric, takes_value


def script(name, names, choices, numeric, takes_value):
    function = "_" + re.sub(r"\W", "_", name)
    cases = []
    for option, values in sorted(choices.items()):
        cases.append(f"    {option}) COMPREPLY=($(compgen -W '{' '.join(values)}' -- \"$cur\")); return ;;")
    if numeric:
        cases.append(f"    {'|'.join(sorted(numeric))}) return ;;")
    files = sorted(takes_value - numeric - set(choices))
    if files:
        cases.append(f"    {'|'.join(files)}) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;")
    case_block = "  case \"$prev\" in\n" + "\n".join(cases) + "\n  esac\n" if cases else ""
    return f"""# bash completion for {name}, generated from `{name} --help` when vr was built.
{function}() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  COMPREPLY=()
{case_block}  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W '{' '.join(names)}' -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -f -- "$cur"))
}}
complete -o filenames -F {function} {name}
"""


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    name, output, command = sys.argv[1], sys.argv[2], sys.argv[3:]
    result = subprocess.run(command + ["--help"], capture_output=True, text=True)
    text = result.stdout + result.stderr
    names, choices, numeric, takes_value = parse_help(text)
    if result.returncode != 0 or not names:
        sys.exit(f"gen-completion.py: `{' '.join(command)} --help` failed or listed no options:\n{text}")
    with open(output + ".tmp", "w") as out:
        out.write(script(name, names, choices, numeric, takes_value))
    import os
    os.replace(output + ".tmp", output)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Catch2 names that CTest cannot run as written.

catch_discover_tests reads `--list-test-names-only` into a CMake list, so a TEST_CASE name
with a ';' becomes two tests that each match nothing and "pass" without running; a name that
starts with '-' reaches the test executable as an option. This check reads every .cpp and .h
under the folder given (default: tests/ beside this script) and prints file:line: name for each
TEST_CASE name holding a ';' or starting with '-'. SECTION names are not checked: CTest never
sees them (catch_discover_tests lists test cases only), so a ';' there is harmless.

So that it cannot pass by finding nothing, it first checks itself on a sample with known bad
names, and it fails when it finds fewer TEST_CASE names than a test suite of this size has.

Usage: catch_test_names.py [FOLDER]. Exit status: 0 clean, 1 findings or a failed self-check.
"""
import pathlib
import re
import sys

# Fewer TEST_CASE names than this means the scan missed them (the suite has about 240).
MINIMUM_TEST_CASES = 100

# Literals and comments, so that a macro name inside a string or a comment is not taken for a
# macro, and a "//" inside a string is not taken for a comment.
TOKEN = re.compile(
    r'(?P<raw>R"(?P<delimiter>[^ ()\\\t\n]{0,16})\(.*?\)(?P=delimiter)")'
    r'|(?P<string>"(?:\\.|[^"\\\n])*")'
    r"|(?P<char>'(?:\\.|[^'\\\n])+')"
    r"|(?P<line_comment>//[^\n]*)"
    r"|(?P<block_comment>/\*.*?\*/)",
    re.S,
)
MACRO = re.compile(r"\b(TEST_CASE_METHOD|TEST_CASE)\s*\(")
LITERAL = re.compile(r'\s*"((?:\\.|[^"\\\n])*)"')


def blank(text):
    """Everything but newlines replaced by spaces, so offsets and line numbers stay."""
    return re.sub(r"[^\n]", " ", text)


def names(source):
    """(line, macro, name) for each TEST_CASE and TEST_CASE_METHOD with a literal name."""
    code = []  # the source with comments and literal contents blanked: where macros are
    literals = []  # the source with comments blanked: where names are read
    position = 0
    for token in TOKEN.finditer(source):
        code.append(source[position:token.start()])
        literals.append(source[position:token.start()])
        text = token.group(0)
        if token.lastgroup in ("line_comment", "block_comment"):
            code.append(blank(text))
            literals.append(blank(text))
        else:
            code.append(text[0] + blank(text[1:-1]) + text[-1])
            literals.append(text)
        position = token.end()
    code.append(source[position:])
    literals.append(source[position:])
    code, literals = "".join(code), "".join(literals)

    found = []
    for macro in MACRO.finditer(code):
        start = macro.end()
        if macro.group(1) == "TEST_CASE_METHOD":  # the fixture comes first
            comma = code.find(",", start)
            if comma < 0:
                continue
            start = comma + 1
        parts = []
        while True:
            literal = LITERAL.match(literals, start)
            if not literal:
                break
            parts.append(literal.group(1))
            start = literal.end()
        if parts:  # adjacent literals are one name
            found.append((source.count("\n", 0, macro.start()) + 1, macro.group(1), "".join(parts)))
    return found


def problems(found):
    """(line, name, why) for each name CTest cannot run."""
    bad = []
    for line, _, name in found:
        if ";" in name:
            bad.append((line, name, "';' splits it in two for CTest"))
        if name.startswith("-"):
            bad.append((line, name, "a leading '-' makes it an option"))
    return bad


SAMPLE = r'''
TEST_CASE("fine") {}
// TEST_CASE("in a comment; ignored")
const char* text = "TEST_CASE(\"in a string; ignored\")";
const char* raw = R"(TEST_CASE("in a raw string; ignored"))";
TEST_CASE("one; two", "[tag]") {
  SECTION("a section; never seen by CTest") {}
}
TEST_CASE("first part "
          "; second part") {}
TEST_CASE_METHOD(Fixture, "-starts with a dash") {}
'''


def self_check():
    """The scan finds exactly the sample's three bad names, on their lines."""
    expected = [(6, "one; two"), (9, "first part ; second part"), (11, "-starts with a dash")]
    got = [(line, name) for line, name, _ in problems(names(SAMPLE))]
    if got != expected:
        print(f"FAIL self-check: expected {expected}, found {got}")
        return False
    return True


def main():
    folder = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    if not self_check():
        return 1
    test_cases = 0
    findings = 0
    for path in sorted(list(folder.rglob("*.cpp")) + list(folder.rglob("*.h"))):
        found = names(path.read_text(errors="replace"))
        test_cases += len(found)
        for line, name, why in problems(found):
            print(f"{path}:{line}: {name} ({why})")
            findings += 1
    print(f"{test_cases} TEST_CASE names under {folder}, {findings} CTest cannot run")
    if test_cases < MINIMUM_TEST_CASES:
        print(f"FAIL: fewer than {MINIMUM_TEST_CASES} TEST_CASE names found: the scan is missing them")
        return 1
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

"""The README's and docs' code blocks: Python parses, and shell commands name things that exist.

A shell block's commands are read as bash would split them (quotes, continuations, `|`, `&&`,
`;`, `$(...)`, comments). Each command is then held to what this repository provides: `make`
targets of the Makefile, `python -m` modules that import, scripts that are files, console
scripts that the two distributions declare, `npx` packages in package.json. Any other program must
be one of the well-known tools listed below; a new one is added there on purpose. Nothing runs and
nothing goes to the network (docs/first-ten-minutes.md is run for real by its own test).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shlex
import tomllib
from dataclasses import dataclass

import pytest

from tests.docs.markdown import Block, blocks, documents
from tests.harness import ROOT

SHELL_LANGUAGES = {"sh", "bash", "shell"}
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", ";;", "|&"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Programs from outside the repository that the docs may call, and shell words.
WELL_KNOWN = {
    "az", "azd", "func", "curl", "jq", "openssl", "pip", "npm", "git", "node",
    "cat", "cp", "echo", "head", "kill", "wait", "export", "source", ".", "cd",
    "until", "do", "done", "while", "if", "then", "else", "fi", "for", "sleep",
}  # fmt: skip
PYTHONS = re.compile(r"^(?:python(?:3(?:\.\d+)?)?|\.venv/bin/python3?)$")


@dataclass(frozen=True)
class Command:
    block: Block
    words: list[str]


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", text, flags=re.MULTILINE))


def console_scripts() -> set[str]:
    names: set[str] = set()
    for pyproject in (ROOT / "pyproject.toml", ROOT / "clients" / "python" / "pyproject.toml"):
        names |= set(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    return names


def node_packages() -> set[str]:
    package = json.loads((ROOT / "package.json").read_text())
    return set(package.get("dependencies", {})) | set(package.get("devDependencies", {}))


def _as_one_line(script: str) -> str:
    """Join continuations, drop comments and turn line ends into `;`, minding quotes."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(script):
        char = script[i]
        if quote:
            if char == "\\" and quote == '"' and i + 1 < len(script):
                out.append(script[i : i + 2])
                i += 2
                continue
            quote = "" if char == quote else quote
            out.append(char)
        elif char == "\\" and script[i + 1 : i + 2] == "\n":
            out.append(" ")
            i += 1
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "#" and (not out or out[-1] in " \t\n;("):
            while i < len(script) and script[i] != "\n":
                i += 1
            continue
        elif char == "\n":
            out.append(" ; ")
        else:
            out.append(char)
        i += 1
    assert not quote, "a quote is never closed"
    return "".join(out)


def commands(block: Block) -> list[Command]:
    lexer = shlex.shlex(_as_one_line(block.text), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    found: list[Command] = []
    words: list[str] = []
    for token in [*lexer, ";"]:
        if token in SEPARATORS:
            if words:
                found.append(Command(block, words))
            words = []
        elif words or not ASSIGNMENT.match(token) or token.endswith("=$"):
            # `NAME=$(...)`: the assignment's command follows the parenthesis.
            if not (not words and token.endswith("=$")):
                words.append(token)
    return found


def shell_blocks() -> list[Block]:
    return [block for path in documents() for block in blocks(path) if block.language in SHELL_LANGUAGES]


def python_blocks() -> list[Block]:
    return [block for path in documents() for block in blocks(path) if block.language == "python"]


def problem(command: Command) -> str | None:
    """What is wrong with one command, or None."""
    program, *args = command.words
    if program == "make":
        unknown = [word for word in args if not word.startswith("-") and not ASSIGNMENT.match(word)]
        missing = set(unknown) - makefile_targets()
        return f"make target {sorted(missing)} is not in the Makefile" if missing else None
    if PYTHONS.match(program):
        if "-m" in args:
            module = args[args.index("-m") + 1]
            if importlib.util.find_spec(module) is None:
                return f"python -m {module}: no such module"
        if "-c" in args:
            try:
                ast.parse(args[args.index("-c") + 1])
            except SyntaxError as error:
                return f"python -c: {error}"
        return None
    if program == "npx":
        package = next(word for word in args if not word.startswith("-"))
        return None if package in node_packages() else f"npx {package}: not in package.json"
    if program in console_scripts() or program in WELL_KNOWN:
        if program == "pip" and "-r" in args:
            requirements = args[args.index("-r") + 1]
            return None if (ROOT / requirements).is_file() else f"pip -r {requirements}: no such file"
        if program == "pip":
            missing = [word for word in args if word.startswith("./") and not (ROOT / word).exists()]
            return f"pip: {missing} not in the repository" if missing else None
        return None
    if "/" in program:
        return None if (ROOT / program).is_file() else f"{program}: no such file in the repository"
    return f"{program}: not a make target, script, console script or known tool (add it to WELL_KNOWN on purpose)"


def test_every_python_block_parses() -> None:
    found = python_blocks()
    assert len(found) >= 20, f"only {len(found)} python blocks found"
    failures = []
    for block in found:
        try:
            ast.parse(block.text, filename=block.where())
        except SyntaxError as error:
            failures.append(f"{block.where()}: {error}")
    assert not failures, "\n".join(failures)


def test_every_shell_command_names_something_that_exists() -> None:
    found = [command for block in shell_blocks() for command in commands(block)]
    programs = {command.words[0] for command in found}
    assert len(found) >= 50 and {"make", "curl"} <= programs, f"only {len(found)} commands found: {programs}"
    failures = [f"{command.block.where()}: {reason}" for command in found if (reason := problem(command))]
    assert not failures, "\n".join(failures)


def test_the_readme_s_two_commands_are_make_targets() -> None:
    [first] = [block for block in blocks(ROOT / "README.md") if block.language in SHELL_LANGUAGES][:1]
    assert [command.words for command in commands(first)] == [["make", "run"], ["make", "test"]]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("make run    # creates .venv", [["make", "run"]]),
        ("A=1 B=2 make run ARGS=--reset", [["make", "run", "ARGS=--reset"]]),
        ("KEY=$(jq -r .function_key x.json)   # or set", [["jq", "-r", ".function_key", "x.json"]]),
        ("curl -d '{\n  \"a\": 1}' http://x/#frag \\\n  -H 'X: y' | head -3", [
            ["curl", "-d", '{\n  "a": 1}', "http://x/#frag", "-H", "X: y"], ["head", "-3"]]),
        ("python3 -m venv .venv && . .venv/bin/activate", [
            ["python3", "-m", "venv", ".venv"], [".", ".venv/bin/activate"]]),
    ],
)  # fmt: skip
def test_commands_are_split_as_bash_splits_them(script: str, expected: list[list[str]]) -> None:
    block = Block(ROOT / "README.md", "sh", "sh", script + "\n", 1)
    assert [command.words for command in commands(block)] == expected


@pytest.mark.parametrize(
    ("words", "complaint"),
    [
        (["make", "no-such-target"], "not in the Makefile"),
        (["python", "-m", "no_such_module_here"], "no such module"),
        (["scripts/no-such-script"], "no such file"),
        (["npx", "left-pad"], "not in package.json"),
        (["wget", "http://x"], "not a make target"),
        (["python3", "-c", "print("], "python -c"),
        (["pip", "install", "./clients/nothing"], "not in the repository"),
        (["pip", "install", "-r", "requirements-none.txt"], "no such file"),
    ],
)
def test_a_command_naming_nothing_real_is_caught(words: list[str], complaint: str) -> None:
    reason = problem(Command(Block(ROOT / "README.md", "sh", "sh", "", 1), words))
    assert reason is not None and complaint in reason

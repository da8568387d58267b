"""Lab 3's grader: a seccomp-like filter personality, and the least @hello needs.

The student's ``filter.py`` defines ``Filter`` with the options ``deny``, ``kill``,
``allow`` and ``readonly`` (``skeletons/lab3/README.md``); ``allow_hello.txt`` lists
the least allow list ``@hello`` runs under. The checks run the lab's probe guest
(``skeletons/lab3/filter_test.c``: one ``NAME: ok|ERRNO`` line per call it tries)
unfiltered and under each option, and require that exactly the lines the policy
names change; then ``@hello`` under the student's allow list, and without each of
its names.
"""

from __future__ import annotations

import signal
from typing import Any

from cofferos.coffers.coffer import CofferConfig
from cofferos.errors import ConfigError
from cofferos.labs.grader import (
    SKELETONS,
    Check,
    CheckFailed,
    Work,
    oops_line,
    quoted,
    run_guest,
)
from cofferos.personalities.base import Personality

TITLE = "a seccomp-like filter, and what it blocks"
SUMMARY = "deny, kill, allow lists and read-only opens in a personality; @hello's least list"
MODULE = "filter.py"
ANSWER = "allow_hello.txt"
GUEST = SKELETONS / "lab3" / "filter_test.c"
NAME = "filter"
SIGNAL_STATUS = 128  #: a shell's status for a process killed by signal N is 128 + N
DENIED = "EPERM"
HELLO_INSTRUCTIONS = 100_000  #: about ten times what @hello runs (glibc static start-up)


def _filter(work: Work, **options: Any) -> Personality:
    cls = work.attribute(MODULE, "Filter")
    if not (isinstance(cls, type) and issubclass(cls, Personality)):
        raise CheckFailed("Filter is not a Personality subclass")
    return cls(**options)


def _lines(work: Work, *personalities: Personality) -> tuple[list[str], Any]:
    result, output = run_guest(work.guest(GUEST), personalities=personalities)
    if result.end_reason == "personality-failure":
        raise CheckFailed(f"the filter failed: {oops_line(result.oopses[-1])}")
    return output.splitlines(), result


def _changed(work: Work, options: dict[str, Any], expected: dict[str, str]) -> str:
    """Run the probe with Filter(**options): the lines of ``expected`` (label -> value)
    must read so, every other line as unfiltered."""
    plain, _ = _lines(work)
    filtered, result = _lines(work, _filter(work, **options))
    if result.exit_code != 0:
        raise CheckFailed(f"with {options} the guest exited {result.exit_code} "
                          f"({result.end_reason}): {quoted(chr(10).join(filtered))}")
    want = [f"{line.split(': ')[0]}: {expected[line.split(': ')[0]]}"
            if line.split(": ")[0] in expected else line for line in plain]
    if filtered != want:
        wrong = next((f"{have!r} instead of {should!r}" for have, should
                      in zip(filtered, want, strict=False) if have != should),
                     f"{len(filtered)} lines instead of {len(want)}")
        raise CheckFailed(f"with {options}: {wrong}")
    return ", ".join(f"{label} {value}" for label, value in expected.items())


def deny(work: Work) -> str:
    return _changed(work, {"deny": "getppid+mkdir"},
                    {"getppid": DENIED, "mkdir": DENIED, "made exists": "no"})


def readonly(work: Work) -> str:
    return _changed(work, {"readonly": True}, {"open-write": DENIED})


def allow(work: Work) -> str:
    plain, _ = _lines(work)
    result = run_guest(work.guest(GUEST))[0]
    needed = "+".join(name for name in result.syscalls if name not in ("mkdir", "socket"))
    return _changed(work, {"allow": needed}, {"mkdir": DENIED, "made exists": "no",
                                              "socket": DENIED})


def kill(work: Work) -> str:
    plain, _ = _lines(work)
    killed, result = _lines(work, _filter(work, kill="mkdir"))
    status = SIGNAL_STATUS + signal.SIGSYS
    if result.exit_code != status or result.end_reason != "personality-kill":
        raise CheckFailed(f"with kill=mkdir the guest ended with status {result.exit_code} "
                          f"({result.end_reason}), not {status} (SIGSYS by a personality)")
    before = plain[:[line.split(": ")[0] for line in plain].index("mkdir")]
    if killed != before:
        raise CheckFailed(f"with kill=mkdir the guest printed {quoted(chr(10).join(killed))}"
                          f", not the {len(before)} lines before mkdir")
    return f"killed by SIGSYS at mkdir (status {status}) after {len(before)} lines"


def counted(work: Work) -> str:
    personality = _filter(work, deny="getppid+mkdir")
    result = run_guest(work.guest(GUEST), personalities=[personality])[0]
    counters = result.personality_counters.get(NAME, {})
    want = {"blocked": 2, "blocked.getppid": 1, "blocked.mkdir": 1}
    got = {key: counters.get(key) for key in want}
    if got != want:
        raise CheckFailed(f"counters {got}, expected {want}")
    return "blocked 2: getppid 1, mkdir 1"


def typo(work: Work) -> str:
    for option in ("deny", "kill", "allow"):
        try:
            _filter(work, **{option: "getppid+nosuchcall"})
        except ConfigError as err:
            if "nosuchcall" not in str(err):
                raise CheckFailed(f"{option}=nosuchcall: the ConfigError does not name it: "
                                  f"{err}") from None
            continue
        raise CheckFailed(f"Filter({option}='getppid+nosuchcall') was accepted")
    return "an unknown name is a ConfigError for deny, kill and allow"


def _hello(work: Work, names: list[str]) -> tuple[int, str]:
    """@hello's exit status and output under allow=names (no filter: names empty). A
    run past HELLO_INSTRUCTIONS is cut short: without exit_group, glibc's _exit spins."""
    from cofferos.workloads import resolve

    personalities = [_filter(work, allow="+".join(names))] if names else []
    result, output = run_guest(resolve("@hello"), personalities=personalities,
                               config=CofferConfig(instruction_limit=HELLO_INSTRUCTIONS))
    return result.exit_code, output


def least(work: Work) -> str:
    lines = work.path(ANSWER).read_text().splitlines()
    names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not names:
        raise CheckFailed(f"{ANSWER} lists no calls")
    plain = _hello(work, [])
    if _hello(work, names) != plain:
        raise CheckFailed(f"@hello behaves differently under allow={'+'.join(names)}")
    for name in names:
        if _hello(work, [other for other in names if other != name]) == plain:
            raise CheckFailed(f"@hello runs the same without {name}: the list is not the "
                              "least")
    return f"@hello needs {len(names)} calls: {', '.join(names)}"


CHECKS: list[Check] = [
    ("deny fails the named calls with EPERM, nothing else", deny),
    ("readonly fails opens for writing, not for reading", readonly),
    ("allow fails every call not listed", allow),
    ("kill ends the process with SIGSYS at the call", kill),
    ("counters() publishes what was blocked", counted),
    ("an unknown call name is a ConfigError", typo),
    (f"{ANSWER} is the least list @hello runs under", least),
]

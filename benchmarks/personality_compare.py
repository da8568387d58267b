"""Host time of a getppid through personality stacks, before and after a change (issue #5).

    .venv/bin/python -m benchmarks.personality_compare BASELINE [--rounds 5]

``BASELINE`` is a commit of this repository; its tree is extracted (``git
archive``) to a temporary directory. Each round measures, alternately, the
baseline tree and this checkout on ``@nullsys`` (a getppid loop) under five
stacks: none; ``linux+hardened+fastpath`` as the tree has them; the same three
without their declarations (``hooks_for``, ``static_cost``: every hook on every
call, as a plugin that declares nothing has them); one personality whose only
hook, ``cost``, returns the cycles it is given (what the stack's own path costs
a call); and one whose only override is a policy slot (``may_open``, never
asked by getppid, but the kernel may ask it inside any call). A figure is the
difference between a large and a small run, in host CPU time, divided by the
calls it adds, so start-up cancels out; the table gives the median over the
rounds, then the best. Each tree runs in its own
interpreter, imported from its own folders, after a short warm-up run.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.sidebyside import (
    HERE,
    LOAD_TREE,
    alternate,
    baseline_tree,
    before_after,
    comparison_parser,
    print_table,
    python_child,
)

SMALL, LARGE = 2_000, 42_000  #: getppid calls of the small and the large run
WARM_UP = 10  #: calls of the first run of a child (caches, first-call binding)
STACKS = ("none", "linux+hardened+fastpath", "the same, declarations removed",
          "one cost hook that passes", "one policy slot that allows")

#: Run in a child: import TREE's layers, run @nullsys under STACK, print us per call.
CHILD = LOAD_TREE + """
stack_name, program, small, large, warm = sys.argv[2:]
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.personalities.base import Personality
from cofferos.personalities.builtin.fastpath import FastPath
from cofferos.personalities.builtin.hardened import Hardened
from cofferos.personalities.builtin.linux import Linux
assert Path(sys.modules["cofferos.coffers.coffer"].__file__).is_relative_to(tree)

def undeclared(cls):
    # The class as a plugin that declares nothing has it (a tree without declarations:
    # the class itself, under another name).
    if not hasattr(Personality, "hooks_for"):
        return type("Undeclared" + cls.__name__, (cls,), {})
    return type("Undeclared" + cls.__name__, (cls,),
                {"static_cost": False, "hooks_for": Personality.hooks_for})

class Passes(Personality):
    name = "passes"
    def cost(self, ctx, cycles):
        return cycles

class Allows(Personality):
    name = "allows"
    def may_open(self, task, path, write):
        return True

STACKS = {"none": lambda: [],
          "linux+hardened+fastpath": lambda: [Linux(), Hardened(), FastPath()],
          "the same, declarations removed":
              lambda: [Linux(), undeclared(Hardened)(), undeclared(FastPath)()],
          "one cost hook that passes": lambda: [Passes()],
          "one policy slot that allows": lambda: [Allows()]}

def seconds(count):
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=io.BytesIO())
    coffer.dispatcher.personalities.replace(STACKS[stack_name]())
    coffer.spawn(program, [program, count])
    started = time.process_time()
    coffer.run()
    return time.process_time() - started

seconds(warm)
print((seconds(large) - seconds(small)) / (int(large) - int(small)) * 1e6)
"""


def _per_call_us(tree: Path, program: str, stack: str) -> float:
    return float(python_child(CHILD, tree, [stack, program, str(SMALL), str(LARGE),
                                            str(WARM_UP)]).split()[-1])


def main(argv: list[str] | None = None) -> None:
    from cofferos.workloads import build

    options = comparison_parser(__doc__, rounds=5).parse_args(argv)
    program = str(build("nullsys"))
    with baseline_tree(options.baseline) as (_work, baseline):
        runners = before_after(options.baseline, baseline, HERE)
        figures = alternate(options.rounds, STACKS, runners,
                            lambda stack, tree: _per_call_us(tree, program, stack))
    print_table("stack (us per getppid: median, best)", runners, (
        (stack, [f"{statistics.median(figures[stack, name]):.2f}, "
                 f"{min(figures[stack, name]):.2f}" for name in runners])
        for stack in STACKS))
    for name in runners:
        none = statistics.median(figures["none", name])
        print(f"{name}: " + ", ".join(
            f"{stack} {statistics.median(figures[stack, name]) / none:.2f}x"
            for stack in STACKS[1:]) + " of none (medians)")


if __name__ == "__main__":
    main()

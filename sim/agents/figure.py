"""The agents experiment's figure: per hosting model, tasks per simulated minute, the
median task's tool and kernel time, memory per agent and start-up, as bar panels."""

from __future__ import annotations

from typing import Any

from cofferos.sim.agents.measures import _name

FIGSIZE = (11.0, 3.8)
BAR_GROUP_WIDTH = 0.8
HATCHES = ("", "//")  #: the first and second bar of a group (tool, kernel)


def draw(summary: list[dict[str, Any]], out: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from cofferos.results.plot import DPI, OKABE_ITO

    figure = Figure(figsize=FIGSIZE)
    FigureCanvasAgg(figure)
    kernels = [_name(s) for s in summary]
    colours = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(kernels))]
    panels = (("tasks_per_min", "tasks per simulated minute"),
              (("tool_p50_ms", "kernel_p50_ms"), "per task p50 (ms): tool | kernel"),
              ("memory_per_agent_mib", "memory per agent (MiB)"),
              ("startup_ms", "start-up (ms)"))
    for index, (key, label) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        keys = key if isinstance(key, tuple) else (key,)
        width = BAR_GROUP_WIDTH / len(keys)
        for offset, name in enumerate(keys):
            positions = [i + (offset - (len(keys) - 1) / 2) * width
                         for i in range(len(kernels))]
            axes.bar(positions, [s[name] or 0.0 for s in summary], width, color=colours,
                     hatch=HATCHES[offset])
        axes.set_xticks(range(len(kernels)), kernels)
        axes.set_title(label, fontsize=9)
        axes.tick_params(axis="x", labelrotation=30, labelsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=DPI)

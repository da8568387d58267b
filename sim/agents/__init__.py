"""Agents as tenants: tool-using AI agents and the model server they ask, on one machine.

:mod:`.scenario` turns a TOML scenario (tool mix, task length, tokens per turn) and a
seed into a deterministic trace; :mod:`.model` holds the model server's latency model
and its sourced defaults; :mod:`.experiment` is ``coffersim experiment agents``: one
coffer per agent (``@agent``) plus one model-server coffer (``@modelserver``) under
each hosting model, and what that costs in throughput, latency, memory and start-up.
See docs/agents.md.
"""

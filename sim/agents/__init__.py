"""Agents as tenants: tool-using AI agents and the model server they ask.

:mod:`.scenario` turns a TOML scenario (tool mix, task length, tokens per turn, a web
service) and a seed into a deterministic trace; :mod:`.model` holds the model
server's latency model and its sourced defaults; :mod:`.hosting` names the hosting
models (``processes`` and the kernel architectures) and how each places agents in
containers; :mod:`.experiment` is ``coffersim experiment agents``: the agents
(``@agent``), the model server (``@modelserver``) and for browsing a web service
(``@webserver``) under each hosting model, and what that costs in throughput,
latency, memory and start-up, measured by :mod:`.measures` and drawn by
:mod:`.figure`; :mod:`.density` searches for how many agents fit
before p99 latency doubles; :mod:`.misbehave` and :mod:`.harm` make agents misbehave
and observe the harm, :mod:`.policy` and :mod:`.orchestrator` contain them live;
:mod:`.remote` puts the services on a machine of their own, joined by a network
link; :mod:`.pytools` gives the agents' tools the host's python3; :mod:`.sweep` runs
the experiment as a sweep point. See docs/agents.md.
"""

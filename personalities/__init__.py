"""Personalities: per-coffer kernel behaviour as plugins.

The interface is :mod:`cofferos.personalities.base` (every hook, its contract
and the composition rule); discovery and options are in
:mod:`cofferos.personalities.registry` and the per-coffer stack in
:mod:`cofferos.personalities.stack`; the built-ins are in ``builtin/`` and are
installed through the ``cofferos.personalities`` entry-point group like any
third-party personality. :mod:`cofferos.personalities.observe` records what each
personality did with a call, for ``--trace=verbose`` and the debugger.
"""

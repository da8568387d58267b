"""Summaries for measure.sh (see there): instructions by process role, calls by kind.

Callgrind runs with a dump before each fork, so a process's dumps (cg.PID, cg.PID.K) hold
only its own instructions. Roles by shape: Exim's (and mosbench.c's) receiving process
forks once a message (2 x 10 + 1 dumps a connection), the delivery process once (3 dumps),
the transport process never (1 dump). Not part of the simulator; not run by the tests.
"""

from __future__ import annotations

import collections
import glob
import os
import re
import statistics
import sys

MESSAGES_PER_CONNECTION = 10
DELIVERY_DUMPS = 3


def dumps(directory: str) -> dict[int, list[int]]:
    """Each process's dumps' instruction counts (callgrind's summary line)."""
    found: dict[int, list[int]] = collections.defaultdict(list)
    for path in glob.glob(os.path.join(directory, "cg.*")):
        pid = int(os.path.basename(path).split(".")[1])
        with open(path) as f:
            found[pid] += [int(line.split()[1]) for line in f if line.startswith("summary:")]
    return found


def roles(found: dict[int, list[int]], messages: int) -> dict[str, list[int]]:
    """Process totals by role; the transports are the `messages` single-dump processes
    nearest their median (the rest: the parent, the client, a daemon's helper)."""
    out: dict[str, list[int]] = {"receiving (a connection)": [], "delivery": [], "transport": []}
    single = []
    for pid, counts in found.items():
        if len(counts) == 2 * MESSAGES_PER_CONNECTION + 1:
            out["receiving (a connection)"].append(sum(counts))
        elif len(counts) == DELIVERY_DUMPS and len(found) > DELIVERY_DUMPS and pid != min(found):
            out["delivery"].append(sum(counts))
        elif len(counts) == 1:
            single.append(sum(counts))
    middle = statistics.median(single)
    out["transport"] = sorted(single, key=lambda c: abs(c - middle))[:messages]
    return out


def insns(directory: str, messages: int) -> None:
    for role, totals in roles(dumps(directory), messages).items():
        per = sum(totals) / len(totals)
        note = f", {per / MESSAGES_PER_CONNECTION:,.0f} a message" if "connection" in role else ""
        print(f"{role}: {len(totals)} processes, {per:,.0f} instructions each{note}")


def calls(before: str, after: str) -> None:
    """Calls a message: the difference of two strace -c tables, 100 messages apart."""
    def table(path: str) -> dict[str, int]:
        rows = {}
        for line in open(path):
            f = line.split()
            if len(f) >= 5 and f[0][0].isdigit() and f[-1].isidentifier():
                rows[f[-1]] = int(f[3])
        return rows
    a, b = table(before), table(after)
    for name in sorted(b, key=lambda k: a.get(k, 0) - b[k]):
        print(f"{(b[name] - a.get(name, 0)) / 100:8.2f} {name}")


def files(directory: str, messages: int) -> None:
    """File calls a message, by the process kind that made them and the name (one
    strace -ff file a process: f.PID)."""
    by: dict[str, list[tuple[str, str, str]]] = collections.defaultdict(list)
    for path in glob.glob(os.path.join(directory, "f.*")):
        pid = path.rsplit(".", 1)[1]
        for line in open(path):
            m = re.match(r"(\w+)\((.*)", line)
            if not m:
                continue
            call, rest = m.groups()
            names = re.findall(r'"([^"]*)"', rest)
            name = re.sub(r"/(input|msglog)/./", r"/\1/S/", names[0] if names else "")
            name = re.sub(r"\w{6}-\w{6}-\w{2}", "ID", name)
            by[pid].append((call, name, "absent" if "= -1" in line else ""))
    kinds: dict[str, list[str]] = collections.defaultdict(list)
    for pid, events in by.items():
        made = {c for c, _, _ in events}
        kind = ("receiving" if "rename" in made else "delivery" if "unlink" in made
                else "transport" if "utimensat" in made else "other")
        kinds[kind].append(pid)
    for kind in ("receiving", "delivery", "transport"):
        count = collections.Counter(e for pid in kinds[kind] for e in by[pid])
        print(f"{kind}:")
        for (call, name, absent), n in count.most_common():
            if n / messages >= 0.1:
                print(f"  {n / messages:6.2f} {call} {name} {absent}")


def loop(directory: str, messages: int) -> None:
    found = dumps(directory)
    # mosbench exim 1 N: the parent, the worker (daemon side) and the client come first
    for pid in sorted(found)[:3]:
        del found[pid]
    insns_of = roles(found, messages)
    for role, totals in insns_of.items():
        per = sum(totals) / len(totals)
        note = f", {per / MESSAGES_PER_CONNECTION:,.0f} a message" if "connection" in role else ""
        print(f"{role}: {len(totals)} processes, {per:,.0f} instructions each{note}")


def fault_tree(script: str) -> tuple[dict[int, int], dict[int, int]]:
    """perf script --show-task-events of a page-faults record (-c 1): each process's
    faults, and each process's parent (its PERF_RECORD_FORK)."""
    faults: dict[int, int] = collections.Counter()
    parent: dict[int, int] = {}
    for line in open(script):
        fork = re.search(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)", line)
        if fork:
            parent[int(fork.group(1))] = int(fork.group(2))
        elif "page-faults" in line:
            faults[int(line.split("/")[0])] += 1
    return faults, parent


def faults(script: str, messages: int, depth_of_daemon: int) -> None:
    """measure.sh faults and loop-faults: page faults by process role. The roles are
    the fork tree's levels below the daemon (Exim's, or the loop's worker at
    ``depth_of_daemon``): receiving processes (the ones with children), their
    delivery processes, and theirs, the transports."""
    found, parent = fault_tree(script)
    def depth(pid: int) -> int:
        return 0 if pid not in parent else 1 + depth(parent[pid])
    top = min(found, key=lambda pid: (depth(pid), pid))
    children = collections.Counter(parent.values())
    level: dict[int, list[int]] = collections.defaultdict(list)
    for pid in set(found) | set(parent):
        if parent.get(pid) is not None and depth(pid) - depth(top) > depth_of_daemon:
            level[depth(pid) - depth(top) - depth_of_daemon].append(pid)
    receiving = [pid for pid in level[1] if children[pid]]
    roles = {"receiving (a connection)": receiving,
             "delivery": [pid for pid in level[2] if parent[pid] in receiving],
             "transport": level[3]}
    total = 0.0
    for role, pids in roles.items():
        per = sum(found[pid] for pid in pids) / max(len(pids), 1)
        each = per / MESSAGES_PER_CONNECTION if "connection" in role else per
        total += each
        note = f", {each:,.0f} a message" if "connection" in role else ""
        print(f"{role}: {len(pids)} processes, {per:,.0f} page faults each{note}")
    print(f"a message: {total:,.0f} page faults in the three roles "
          f"({messages} messages; the daemon's own {found[top]:,} not counted)")


def shape(samples: str) -> None:
    """measure.sh shape: each line "PID PPID MAPPINGS RSS_KB ANONYMOUS_KB" of a sample;
    a process's largest sample; roles by the fork tree below the daemon."""
    seen: dict[int, tuple[int, int, int, int]] = {}
    for line in open(samples):
        f = line.split()
        if len(f) == 5:
            pid, ppid, maps, rss, anon = (int(x) for x in f)
            if pid not in seen or maps + anon > seen[pid][1] + seen[pid][3]:
                seen[pid] = (ppid, maps, rss, anon)
    role = {pid: "daemon" for pid, (ppid, *_) in seen.items() if ppid not in seen}
    for child, parent in (("receiving", "daemon"), ("delivery", "receiving"),
                          ("transport", "delivery")):
        role.update({pid: child for pid, (ppid, *_) in seen.items()
                     if role.get(ppid) == parent})
    for name in ("daemon", "receiving", "delivery", "transport"):
        rows = [seen[pid] for pid in seen if role.get(pid) == name]
        if rows:
            maps, rss, anon = (statistics.median(r[k] for r in rows) for k in (1, 2, 3))
            print(f"{name}: {len(rows)} processes sampled; median {maps:.0f} mappings, "
                  f"{rss / 4:.0f} resident pages, {anon / 4:.0f} of them anonymous")


def cpu(table: str) -> None:
    """measure.sh cpu: each line "MESSAGES USER_NS SYSTEM_NS" of one run; the last two
    runs' difference a message (the daemon's start and end cancel out)."""
    with open(table) as lines:
        runs = [tuple(int(field) for field in line.split()) for line in lines if line.strip()]
    (n_a, user_a, sys_a), (n_b, user_b, sys_b) = runs[-2:]
    extra = n_b - n_a
    user, system = (user_b - user_a) / extra / 1e6, (sys_b - sys_a) / extra / 1e6
    for n, user_ns, sys_ns in runs[-2:]:
        print(f"{n} messages: {user_ns / 1e9:.3f} s user, {sys_ns / 1e9:.3f} s system")
    print(f"a message: {user:.3f} ms user, {system:.3f} ms system, {user + system:.3f} ms "
          f"in all (the difference of the two runs over their {extra} messages apart)")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "calls":
        calls(sys.argv[2], sys.argv[3])
    elif mode == "cpu":
        cpu(sys.argv[2])
    elif mode == "shape":
        shape(sys.argv[2])
    elif mode in ("faults", "loop-faults"):
        faults(sys.argv[2], int(sys.argv[3]), 0 if mode == "faults" else 1)
    else:
        {"insns": insns, "files": files, "loop": loop}[mode](sys.argv[2], int(sys.argv[3]))

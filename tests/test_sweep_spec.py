"""Sweep specifications (cofferos.sim.sweeps.spec): errors with key and line, resolution, ids."""

from __future__ import annotations

import pytest

from cofferos.errors import ConfigError
from cofferos.sim.sweeps import interrupts
from cofferos.sim.sweeps import spec as sweep_spec
from cofferos.sim.sweeps.spec import load, parse_text, point_id

BASE = '[base]\nworkload = "@nullsys"\n'


def _error(tmp_path, text: str) -> str:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize(("text", "expected"), [
    ('name = "x"\n[base]\nworkload = "@nullsys"\ncores = \n', "(at line 4"),
    ('[base]\nworkload = "@nullsys"\ncolour = "red"\n', "line 3, key base.colour: unknown key"),
    ('[base]\nworkload = "@nullsys"\ncores = "4"\n', "line 3, key base.cores: expected a whole"),
    ('[base]\nworkload = "@nullsys"\ncontainers = 0\n', "line 3, key base.containers: must be"),
    ('[base]\nworkload = "@nope"\n', "line 2, key base.workload: unknown workload 'nope'"),
    ('[base]\nworkload = "@asmloop:musl2"\n', "line 2, key base.workload: asmloop does not"),
    ('[base]\nworkload = "./missing"\n', "line 2, key base.workload: no such program"),
    (BASE + '\n[vary]\nkernel = ["linux", "bsd"]\n', "line 5, key vary.kernel: unknown kernel"),
    (BASE + '\n[vary]\nkernel = ["linux:2.6.35", "linux:7"]\n',
     "line 5, key vary.kernel: unknown linux version '7'"),
    (BASE + 'personalities = ["nosuch"]\n', "line 3, key base.personalities: unknown personality"),
    (BASE + 'personalities = ["hardened:colour=red"]\n', "line 3, key base.personalities"),
    (BASE + 'cost = ["warp_speed=9"]\n', "line 3, key base.cost: unknown cost 'warp_speed'"),
    (BASE + 'cost = "entry_exit=1"\n', "line 3, key base.cost: expected a list of strings"),
    (BASE + 'op_syscall = "frobnicate"\n', "line 3, key base.op_syscall: no system call"),
    (BASE + 'timeout_s = 0\n', "line 3, key base.timeout_s: must be > 0"),
    (BASE + 'probes = ["nosuch"]\n', "line 3, key base.probes: unknown probe 'nosuch'"),
    (BASE + '[vary]\nmode = "zip"\nkernel = ["linux", "vm"]\ncores = [1, 2, 4]\n',
     "line 6, key vary.cores: 3 values but vary.kernel has 2"),
    (BASE + '[vary]\ncores = []\n', "line 4, key vary.cores: empty list"),
    (BASE + '[vary]\ncores = 2\n', "line 4, key vary.cores: expected a list"),
    (BASE + '[vary]\nmode = "cartesian"\n', "line 4, key vary.mode: expected one of product"),
    (BASE + '[vary]\n\ncolour = ["red"]\n', "line 5, key vary.colour: not a base key"),
    (BASE + '[repeat]\nseeds = 0\n', "line 4, key repeat.seeds: must be at least 1"),
    (BASE + '[repeat]\ntimes = 2\n', "line 4, key repeat.times: unknown key"),
    (BASE + 'extra = 1\n[vary]\n', "line 3, key base.extra"),
    ('[base]\ncores = 2\n', "line 1, key base.workload: missing"),
    ('title = "x"\n' + BASE, "line 1, key title: unknown key"),
    ('name = "a/b"\n' + BASE, "line 1, key name: expected a name"),
    (BASE + '[vary]\nseed = [1, 1]\n', "two points have the same configuration"),
])
def test_spec_errors_name_key_and_line(tmp_path, text, expected):
    assert expected in _error(tmp_path, text)


def test_unreadable_spec_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="cannot read sweep spec"):
        load(tmp_path / "absent.toml")


def test_product_resolution_order_defaults_and_seeds():
    spec = parse_text(BASE + 'cores = 2\n[vary]\nkernel = ["linux", "cofferos"]\n'
                      'containers = [1, 2, 4]\n[repeat]\nseeds = 2\n')
    assert spec.name == "sweep" and spec.seeds == 2 and len(spec.points) == 12
    configs = [p["config"] for p in spec.points]
    assert [(c["kernel"], c["containers"], c["seed"], c["repeat"]) for c in configs[:4]] == [
        ("linux", 1, 0, 0), ("linux", 1, 1, 1), ("linux", 2, 0, 0), ("linux", 2, 1, 1)]
    first = configs[0]
    assert first["args"] == ["100000"]  # the catalog's default_args
    assert first["cores"] == 2 and first["cost"] == [] and first["personalities"] == []
    # "image" (and the agents keys) are left out of a point without one, so older points
    # keep their ids
    assert set(first) == {*sweep_spec.BASE_DEFAULTS, "repeat"} - set(
        sweep_spec.OMITTED_AT_DEFAULT)
    assert len({p["id"] for p in spec.points}) == 12


def test_zip_resolution_and_list_valued_keys():
    spec = parse_text('name = "z"\n[base]\nworkload = "@compute"\nargs = [1000]\nseed = 5\n'
                      '[vary]\nmode = "zip"\nkernel = ["linux", "vm"]\n'
                      'cost = [[], ["entry_exit=200", "call.read=900"]]\n'
                      'personalities = [[], ["fastpath"]]\n')
    assert spec.name == "z"
    assert [(p["config"]["kernel"], p["config"]["cost"], p["config"]["personalities"])
            for p in spec.points] == [("linux", [], []),
                                      ("vm", ["entry_exit=200", "call.read=900"], ["fastpath"])]
    assert all(p["config"]["args"] == ["1000"] and p["config"]["seed"] == 5
               for p in spec.points)


def test_relative_program_is_relative_to_the_spec(tmp_path):
    program = tmp_path / "prog"
    program.write_bytes(b"\x7fELF")
    (tmp_path / "s.toml").write_text('[base]\nworkload = "prog"\n')
    spec = load(tmp_path / "s.toml")
    assert spec.name == "s" and spec.points[0]["config"]["workload"] == str(program)
    assert spec.points[0]["config"]["args"] == []


def test_point_ids_are_stable_and_follow_the_configuration(monkeypatch):
    text = BASE + '[vary]\nkernel = ["linux", "cofferos"]\n'
    ids = [p["id"] for p in parse_text(text).points]
    assert ids == [p["id"] for p in parse_text(text).points]
    assert all(len(i) == sweep_spec.ID_HEX_DIGITS and int(i, 16) >= 0 for i in ids)
    config = dict(parse_text(text).points[0]["config"])
    assert point_id(config) == ids[0]
    assert point_id({**config, "cores": 8}) != ids[0]
    assert point_id({**config, "timeout_s": 1}) == ids[0]  # a host limit is not the result
    monkeypatch.setattr(sweep_spec, "__version__", "99.0")
    assert point_id(config) != ids[0]


@pytest.mark.parametrize(("text", "expected"), [
    (BASE + 'timeout_s = inf\n', "line 3, key base.timeout_s: expected a finite number, got inf"),
    (BASE + 'timeout_s = nan\n', "line 3, key base.timeout_s: expected a finite number"),
    (BASE + 'timeout_s = 1e300\n', "line 3, key base.timeout_s: must be at most 604,800"),
    (BASE + 'duration_ms = nan\n', "line 3, key base.duration_ms: expected a finite number"),
    (BASE + 'duration_ms = -inf\n', "line 3, key base.duration_ms: expected a finite number"),
    (BASE + 'duration_ms = -0.5\n', "line 3, key base.duration_ms: must be >= 0"),
    (BASE + '[vary]\nduration_ms = [1, inf]\n', "line 4, key vary.duration_ms: expected a finite"),
    (BASE + 'cores = 100000000000\n', "line 3, key base.cores: must be at most 4,096"),
    (BASE + 'containers = 200000\n', "line 3, key base.containers: must be at most 100,000"),
    (BASE + '[repeat]\nseeds = 100000000000\n', "line 4, key repeat.seeds: must be at most"),
    (BASE + f'[vary]\ncores = {list(range(1, 21))}\n[repeat]\nseeds = 10000\n',
     "line 6, key repeat.seeds: 200,000 points"),
    (BASE + '[vary]\n' + "".join(f"{k} = {list(range(1, 51))}\n" for k in
                                  ("cores", "containers", "seed")),
     "line 6, key vary.seed: 125,000 combinations"),
    # tables and keys set other than as `key = value` under [section]
    ('[bogus]\nx = 1\n' + BASE, "line 1, key bogus: unknown key"),
    (BASE + '\n[[bogus]]\nx = 1\n', "line 4, key bogus: unknown key"),
    (BASE + '[bogus.sub]\nx = 1\n', "line 3, key bogus: unknown key"),
    ('name = "x"\nbase = {workload = "@nosuch"}\n', "line 2, key base.workload: unknown workload"),
    ('name = "x"\n[[base]]\nworkload = "@nullsys"\n', "line 2, key base: expected one table"),
    ('base.workload = "@nullsys"\nbase.cores = 0\n', "line 2, key base.cores: must be at least 1"),
    ('[base]\n"workload" = "@nullsys"\n"cores" = 0\n',
     "line 3, key base.cores: must be at least 1"),
    # a multi-line array's lines are not table headers, nor are strings
    (BASE + '[vary]\npersonalities = [\n  [],\n  ["fastpath"]\n]\ncores = [0]\n',
     "line 8, key vary.cores: must be at least 1"),
    (BASE + 'args = ["""\n[vary]\n""", \'\'\'\n[x]\'\'\']\ncores = 0\n',
     "line 7, key base.cores: must be"),
])
def test_absurd_values_and_every_table_form_are_located(tmp_path, text, expected):
    assert expected in _error(tmp_path, text)


def test_a_missing_base_has_no_line_to_name(tmp_path):
    message = _error(tmp_path, 'name = "x"\n')
    assert message.endswith("spec.toml, key base.workload: missing: every point needs a "
                            "workload (a program path or @name)")


def test_program_paths_are_identified_by_content(tmp_path):
    program = tmp_path / "prog"
    spec = tmp_path / "s.toml"
    spec.write_text('[base]\nworkload = "prog"\n[vary]\ncores = [1, 2]\n')
    program.write_bytes(b"\x7fELF one build")
    first = load(spec).points
    assert first[0]["config"][sweep_spec.PROGRAM_HASH_KEY] == sweep_spec.file_sha256(
        str(program))
    assert [p["id"] for p in load(spec).points] == [p["id"] for p in first]
    program.write_bytes(b"\x7fELF recompiled")  # same path, new content: new points
    again = load(spec).points
    assert not {p["id"] for p in first} & {p["id"] for p in again}
    builtin = parse_text(BASE).points[0]["config"]  # @name: identified by name, as before
    assert sweep_spec.PROGRAM_HASH_KEY not in builtin


def test_held_interrupts_raises_ctrl_c_when_the_block_ends():
    import os
    import signal

    reached = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.held_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            reached.append("after")  # not raised inside, where a C callback would lose it
    assert reached == ["after"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

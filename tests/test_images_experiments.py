"""``coffersim experiment NAME --image``: every container of an experiment on a container image.

The images are built from the host's own files (:mod:`tests.images`); nothing is
downloaded. An experiment builds its own container configurations, so these tests
check what each container really had as its root, not only what the manifest says.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cofferos.cli import main
from cofferos.coffers.coffer import CofferConfig
from cofferos.errors import ConfigError, ProgramError
from cofferos.sim import experiment as experiment_module
from cofferos.sim.experiment import ContainerSpec, experiment_image, run_mix
from tests import images
from tests.rootfs import require_busybox


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_busybox()
    return images.docker_save(tmp_path_factory.mktemp("images") / "save.tar")


def test_every_container_of_a_run_inside_experiment_image_has_the_image_as_its_root(
        image: Path) -> None:
    """The image's merged files (the upper layer's /etc/x, /srv/new) are what a container
    reads, its writes stay its own, and the same run outside sees none of it."""
    script = "cat /etc/x /srv/new && echo mine > /srv/new && cat /srv/new"
    spec = ContainerSpec("/bin/sh", ("-c", script), inside=True)
    with experiment_image(str(image)):
        report = run_mix([spec, spec], kernel="linux", cores=1, base=CofferConfig())
    expected = b"x of the upper layer\nnew in the upper layer\nmine\n"
    assert [c.stdout for c in report.containers] == [expected, expected]
    assert [c.exit_code for c in report.containers] == [0, 0]
    with pytest.raises(ProgramError, match="/bin/sh: no such file"):  # none without it
        run_mix([spec], kernel="linux", cores=1, base=CofferConfig())


def test_the_directories_an_experiment_writes_for_its_containers_lie_over_the_image(
        image: Path, tmp_path: Path) -> None:
    """An experiment's --rootfs of data (noisy-neighbor's and infoflow's files) is
    mounted over the image, directory by directory, as a volume would be."""
    own = tmp_path / "own"
    (own / "data").mkdir(parents=True)
    (own / "data" / "pages.bin").write_bytes(b"the experiment's own file\n")
    spec = ContainerSpec("/bin/sh", ("-c", "cat /data/pages.bin /etc/x"), inside=True,
                         config=CofferConfig(name="own", rootfs=str(own)))
    with experiment_image(str(image)):
        report = run_mix([spec], kernel="linux", cores=1)
    assert report.containers[0].stdout == b"the experiment's own file\nx of the upper layer\n"
    (own / "stray").write_bytes(b"")
    with experiment_image(str(image)), pytest.raises(ConfigError, match="'stray' at its top"):
        run_mix([spec], kernel="linux", cores=1)


def test_coffersim_experiment_with_an_image_runs_every_container_on_it(
        image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    roots: list[str | None] = []
    real = experiment_module.Coffer

    def recording(config: CofferConfig, *args: object, **kwargs: object) -> object:
        roots.append(config.image)
        return real(config, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(experiment_module, "Coffer", recording)
    out = tmp_path / "fault"
    assert main(["experiment", "fault", "--kernels", "linux", "--containers", "2",
                 "--set", "kinds=panic", "--image", str(image), "--no-figure",
                 "--json", "--out", str(out)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(row["kernel"] == "linux" for row in rows)
    assert roots and set(roots) == {str(image)}  # every container, every run
    configuration = json.loads((out / "manifest.json").read_text())["configuration"]
    assert configuration["image"] == str(image)
    assert configuration["image_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()


def test_without_an_image_the_manifest_has_no_image_keys(tmp_path: Path) -> None:
    out = tmp_path / "fault"
    assert main(["experiment", "fault", "--kernels", "linux", "--containers", "2",
                 "--set", "kinds=panic", "--no-figure", "--out", str(out)]) == 0
    configuration = json.loads((out / "manifest.json").read_text())["configuration"]
    assert "image" not in configuration and "image_sha256" not in configuration


def test_a_sweep_point_of_the_agents_experiment_refuses_an_image(image: Path) -> None:
    from cofferos.sim.sweeps.spec import parse_text

    with pytest.raises(ConfigError, match=r"base.image: the agents experiment builds"):
        parse_text(f'[base]\nworkload = "@hello"\nexperiment = "agents"\n'
                   f'image = "{image}"\n')

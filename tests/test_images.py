"""Container images as a coffer's root (``--image``): every format, layers and whiteouts,
the same output as natively, and nothing of an archive reaching the host.

The images are built from the host's busybox by :mod:`tests.images`; a script runs
in the coffer with ``/`` as its working directory and natively in the merged tree
(:func:`tests.images.merged_tree`) with the same busybox, so the two outputs must
be equal byte for byte.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from cofferos.cli import main
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.fs.image import load_image
from cofferos.coffers.fs.imagetree import ImageError
from cofferos.errors import ConfigError, ProgramError
from tests import images
from tests.rootfs import BUSYBOX, require_busybox
from tests.support import NATIVE_TIMEOUT_S, Outcome, needs

#: Lists the merged tree and prints its files, with relative paths (the coffer runs it in /).
TREE_SCRIPT = ("find bin opt srv -type f | sort; ls opt/d; cat etc/x opt/d/c opt/keep "
               "srv/new; stat -c '%h %s %a' opt/keep opt/keep.link; test -e etc/gone || "
               "echo no etc/gone")
MIB = 1 << 20


@pytest.fixture(autouse=True)
def _busybox() -> None:
    require_busybox()


def in_image(image: Path | str, script: str, **config: object) -> Outcome:
    """``sh -c SCRIPT`` of the image in a coffer whose root is ``image``, in /."""
    out, err = io.BytesIO(), io.BytesIO()
    coffer = Coffer(CofferConfig(image=str(image), **config),  # type: ignore[arg-type]
                    stdin=io.BytesIO(), stdout=out, stderr=err)
    coffer.spawn_inside("sh", ["sh", "-c", script])
    result = coffer.run()
    return Outcome(result.exit_code, out.getvalue(), err.getvalue(), result)


def native(root: Path, script: str) -> Outcome:
    """The same script with the host's busybox, in the merged tree."""
    proc = subprocess.run(["sh", "-c", script], executable=str(BUSYBOX), cwd=root,
                          capture_output=True, timeout=NATIVE_TIMEOUT_S,
                          env={"PATH": str(root / "bin")})
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_busybox()
    base = tmp_path_factory.mktemp("images")
    return {"save": images.docker_save(base / "save.tar"),
            "oci": images.oci_layout(base / "oci.tar"),
            "dir": images.merged_tree(base / "merged")}


@pytest.mark.parametrize("kind", ["save", "oci", "dir"])
def test_a_layered_image_runs_as_its_merged_tree_natively(kind: str,
                                                          built: dict[str, Path]) -> None:
    coffer = in_image(built[kind], TREE_SCRIPT)
    expected = native(built["dir"], TREE_SCRIPT)
    assert (coffer.status, coffer.stderr) == (0, b"")
    assert coffer.stdout == expected.stdout and expected.status == 0
    text = coffer.stdout.decode()
    assert "no etc/gone" in text and "opt/d/a" not in text  # the whiteout and the opaque dir
    assert "x of the upper layer" in text and "2 26 644" in text  # hard link: 2 names


def test_a_flat_export_runs_and_the_program_is_found_along_path(tmp_path: Path) -> None:
    image = images.flat_export(tmp_path / "export.tar")
    result = in_image(image, "ls /; cat /etc/x /etc/gone; ls /opt/d")
    assert result.status == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert {"bin", "etc", "opt", "tmp", "proc", "dev"} <= set(lines)
    assert lines[-4:] == ["x of the lower layer", "whited out by the upper layer", "a", "b"]


def test_a_gzip_compressed_export_is_read_the_same(tmp_path: Path) -> None:
    plain = in_image(images.flat_export(tmp_path / "a.tar"), "cat /etc/x; ls -l /opt")
    packed = in_image(images.flat_export(tmp_path / "a.tar.gz", gzipped=True),
                      "cat /etc/x; ls -l /opt")
    assert plain.status == packed.status == 0 and plain.stdout == packed.stdout


def test_writes_stay_in_the_coffer_and_the_image_is_never_changed(
        built: dict[str, Path]) -> None:
    image = built["save"]
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    writer = in_image(image, "echo changed > /etc/x; rm /opt/keep; echo new > /bin/n; "
                             "cat /etc/x; ls /opt")
    assert writer.status == 0 and writer.stdout.decode().splitlines()[0] == "changed"
    assert "keep\n" not in writer.stdout.decode().replace("keep.link", "")
    reader = in_image(image, "cat /etc/x /opt/keep; ls /bin/n")
    assert reader.stdout.startswith(b"x of the upper layer\nkept from the lower layer\n")
    assert reader.status == 1  # ls: /bin/n: no such file: the first coffer's write is gone
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before


def test_a_file_is_read_from_the_archive_only_when_opened(tmp_path: Path) -> None:
    """Lazy reading: the archive is read again on the first open; if it changed
    meanwhile, the read fails with EIO instead of showing other bytes."""
    image = images.docker_save(tmp_path / "save.tar")
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(image=str(image)), stdin=io.BytesIO(), stdout=out,
                    stderr=io.BytesIO())
    coffer.spawn_inside("/bin/busybox", ["sh", "-c", "cat /etc/x || echo failed"])
    data = image.read_bytes()
    image.write_bytes(data.replace(b"x of the upper layer", b"X OF THE UPPER LAYER"))
    coffer.run()
    assert out.getvalue() == b"failed\n"


def test_archive_names_and_links_stay_inside_the_coffer(tmp_path: Path) -> None:
    """Absolute names, "..", a symlink to / along a member's path and absolute symlink
    targets all land in the image; nothing is created on the host."""
    outside = tmp_path / "outside"

    def fill(archive: tarfile.TarFile) -> None:
        images._lower(archive)
        images.add_file(archive, "/etc/absolute", b"absolute\n")
        images.add_file(archive, f"../../..{outside}/dotdot", b"dotdot\n")
        images.add_symlink(archive, "up", "../../../../..")
        images.add_file(archive, "up/etc/through-link", b"through\n")
        images.add_symlink(archive, "hostetc", "/etc")
        images.add_hardlink(archive, "etc/hard", "../../etc/x")
    image = tmp_path / "hostile.tar"
    image.write_bytes(images.tar_bytes(fill))
    result = in_image(image, f"cat /etc/absolute {outside}/dotdot /etc/through-link /etc/hard; "
                             "ls /hostetc/")
    assert result.status == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[:4] == ["absolute", "dotdot", "through", "x of the lower layer"]
    assert "passwd" in lines and "gone" in lines  # /hostetc is the image's /etc
    assert not outside.exists()


def test_a_device_node_of_the_image_stats_but_cannot_be_opened(tmp_path: Path) -> None:
    def fill(archive: tarfile.TarFile) -> None:
        images._lower(archive)
        device = tarfile.TarInfo("srv/disk")
        device.type, device.mode, device.devmajor, device.devminor = tarfile.CHRTYPE, 0o666, 8, 1
        archive.addfile(device)
    image = tmp_path / "dev.tar"
    image.write_bytes(images.tar_bytes(fill))
    result = in_image(image, "stat -c '%F %t %T' /srv/disk; cat /srv/disk")
    assert result.stdout == b"character special file 8 1\n"
    assert result.status == 1 and b"Permission denied" in result.stderr


def _gzip_layer_save(path: Path, payload: bytes) -> Path:
    layer = images.tar_bytes(lambda archive: images.add_file(archive, "big", payload))
    return images.docker_save(path, [images.lower_layer(), gzip.compress(layer, mtime=0)])


def test_an_image_larger_than_the_disk_limit_is_refused_while_decompressing(
        tmp_path: Path) -> None:
    image = _gzip_layer_save(tmp_path / "bomb.tar", bytes(64 * MIB))
    assert image.stat().st_size < 3 * MIB
    with pytest.raises(ImageError, match="larger than the coffer's disk limit"):
        load_image(str(image), size_limit=8 * MIB)
    assert load_image(str(image), size_limit=128 * MIB).file_bytes > 64 * MIB


def _bad_archives(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    lower = images.lower_layer()
    save = images.docker_save(tmp_path / "ok.tar").read_bytes()
    oci = images.oci_layout(tmp_path / "oci.tar")
    with tarfile.open(oci) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive  # type: ignore
                   if m.isfile()}
    blob = next(name for name, data in members.items() if data.startswith(b"\x1f\x8b"))
    tampered = {**members, blob: members[blob][:-8] + bytes(8)}
    two = json.dumps([{"Layers": []}, {"Layers": []}]).encode()
    truncated = tmp_path / "t.tar"
    truncated.write_bytes(save[: len(save) // 2])
    return {
        "truncated": (truncated, "truncated"),
        "not json": (images.write_archive(tmp_path / "j.tar", {"manifest.json": b"{"}),
                     "not valid JSON"),
        "two images": (images.write_archive(tmp_path / "2.tar", {"manifest.json": two}),
                       "lists 2 images"),
        "missing layer": (images.write_archive(tmp_path / "m.tar", {"manifest.json": json.dumps(
            [{"Layers": ["nope/layer.tar"]}]).encode()}), "'nope/layer.tar' is not in"),
        "zstd layer": (images.docker_save(tmp_path / "z.tar", [b"\x28\xb5\x2f\xfd" + lower]),
                       "zstd compression is not supported"),
        "digest": (images.write_archive(tmp_path / "d.tar", tampered), "does not match"),
        "bad gzip": (images.docker_save(tmp_path / "g.tar", [b"\x1f\x8b\x08\x00junk"]),
                     "corrupt gzip data"),
    }


def test_a_corrupt_or_unknown_archive_is_one_error_line(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    for name, (path, message) in _bad_archives(tmp_path).items():
        with pytest.raises(ConfigError, match=message):
            Coffer(CofferConfig(image=str(path)))
        status = main(["run", "--image", str(path), "--", "sh", "-c", "true"])
        err = capsys.readouterr().err
        assert status == 2 and err.count("\n") == 1, (name, err)
        assert err.startswith(f"coffersim: error: --image {path}: ") and message in err, name


def test_image_and_rootfs_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="choose one"):
        CofferConfig(image=str(tmp_path), rootfs=str(tmp_path))


def test_a_program_missing_from_the_image_is_not_taken_from_the_host(
        built: dict[str, Path]) -> None:
    coffer = Coffer(CofferConfig(image=str(built["save"])))
    with pytest.raises(ProgramError, match="/usr/bin/env: no such file in the image "):
        coffer.spawn_inside("/usr/bin/env")  # on the host, not in the image
    with pytest.raises(ProgramError, match=r"env: no such file in the image .*through PATH"):
        coffer.spawn_inside("env")
    with pytest.raises(ProgramError, match="/etc/x: not executable .* in the image"):
        coffer.spawn_inside("/etc/x")


def test_coffersim_run_with_an_image(built: dict[str, Path],
                                     capfd: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "--image", str(built["oci"]), "--", "cat", "/etc/x", "/srv/new"])
    out = capfd.readouterr().out
    assert status == 0 and out == "x of the upper layer\nnew in the upper layer\n"


def test_coffersim_compare_with_an_image(built: dict[str, Path],
                                         capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    status = main(["compare", "--image", str(built["save"]), "--kernels", "linux",
                   "--containers", "2", "--cores", "1", "--json", "--out", str(tmp_path / "r"),
                   "--", "/bin/true"])
    rows = json.loads(capsys.readouterr().out)
    assert status == 0 and rows[0]["failed_containers"] == 0 and rows[0]["containers"] == 2
    record = json.loads(next((tmp_path / "r" / "points").glob("*.json")).read_text())
    assert record["config"]["image"] == str(built["save"])
    assert record["config"]["image_sha256"] == hashlib.sha256(
        built["save"].read_bytes()).hexdigest()


def test_a_sweep_spec_runs_its_points_on_an_image(built: dict[str, Path]) -> None:
    from cofferos.sim.sweeps.point import run_point
    from cofferos.sim.sweeps.spec import IMAGE_HASH_KEY, parse_text

    spec = parse_text(f'[base]\nworkload = "true"\nimage = "{built["oci"]}"\n'
                      '[vary]\nkernel = ["linux", "cofferos"]\n')
    configs = [point["config"] for point in spec.points]
    assert [c["image"] for c in configs] == [str(built["oci"])] * 2
    assert configs[0][IMAGE_HASH_KEY] == hashlib.sha256(built["oci"].read_bytes()).hexdigest()
    assert "program_sha256" not in configs[0]  # the program is the image's, hashed with it
    rows = run_point(configs[0])["rows"]
    assert {"container": "c0", "metric": "exit_code", "value": 0.0} in rows


def test_a_sweep_spec_with_a_bad_image_names_the_key(tmp_path: Path) -> None:
    from cofferos.sim.sweeps.spec import parse_text

    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(100))
    with pytest.raises(ConfigError, match=r"line 3, key base.image: .*bad.tar: zstd"):
        parse_text(f'[base]\nworkload = "true"\nimage = "{bad}"\n')
    with pytest.raises(ConfigError, match="a program of an image, but a point has no image"):
        parse_text(f'[base]\nworkload = "/bin/true"\n[vary]\nimage = ["{bad.parent}", ""]\n')


def test_layers_stored_as_links_between_members_are_followed(tmp_path: Path) -> None:
    """Older ``docker save`` stores a layer shared by two images once and links the
    other ``<id>/layer.tar`` to it (``../<id>/layer.tar``)."""
    lower = images.lower_layer()

    def fill(archive: tarfile.TarFile) -> None:
        images.add_file(archive, "aaa/layer.tar", lower)
        images.add_symlink(archive, "bbb/layer.tar", "../aaa/layer.tar")
        images.add_file(archive, "manifest.json", json.dumps(
            [{"Layers": ["bbb/layer.tar"]}]).encode())
    image = tmp_path / "linked.tar"
    image.write_bytes(images.tar_bytes(fill))
    assert in_image(image, "cat /etc/x").stdout == b"x of the lower layer\n"


def test_owner_mode_and_time_come_from_the_tar_headers(tmp_path: Path) -> None:
    def fill(archive: tarfile.TarFile) -> None:
        images._lower(archive)
        info = tarfile.TarInfo("srv/owned")
        info.uid, info.gid, info.mode, info.mtime = 1000, 100, 0o4750, 1_600_000_000
        archive.addfile(info, io.BytesIO(b""))
    image = tmp_path / "owners.tar"
    image.write_bytes(images.tar_bytes(fill))
    result = in_image(image, "stat -c '%u %g %a %Y' /srv/owned")
    assert result.stdout == b"1000 100 4750 1600000000\n"


def test_a_builtin_workload_runs_with_the_image_as_its_root(built: dict[str, Path]) -> None:
    from cofferos.api import run_program

    out = io.BytesIO()
    result = run_program("@hello", config=CofferConfig(image=str(built["save"])), stdout=out)
    assert result.exit_code == 0 and out.getvalue()


def test_a_dynamically_linked_program_of_the_image_is_one_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dynamic = Path("/bin/true")
    if b"ld-linux" not in dynamic.read_bytes():
        pytest.skip("the host's /bin/true is not dynamically linked")
    image = tmp_path / "dynamic.tar"
    image.write_bytes(images.tar_bytes(
        lambda archive: images.add_file(archive, "bin/true", dynamic.read_bytes(), 0o755)))
    status = main(["run", "--image", str(image), "--", "/bin/true"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith("coffersim: error: /bin/true")


#: Shell scripts that use the whole busybox tree: pipelines, files in /tmp, a subshell.
BUSYBOX_SCRIPTS = (
    "echo c b a | tr ' ' '\\n' | sort | uniq -c",
    "mkdir -p d/e && echo one > d/e/f && mv d/e/f d/g && ls -R d && rm -r d && ls",
    "x=$(printf '%s\\n' 3 1 2 | sort -n | tail -1); echo \"$x\"; (exit 3); echo $?",
)


@pytest.mark.parametrize("script", BUSYBOX_SCRIPTS)
def test_a_busybox_rootfs_saved_as_an_image_runs_as_it_does_as_rootfs_and_natively(
        script: str, tmp_path: Path) -> None:
    from tests.rootfs import (
        COFFER_CWD,
        busybox_rootfs,
        host_applet_dir,
        run_busybox_in_coffer,
        run_busybox_native,
    )

    root = busybox_rootfs(tmp_path)
    image = tmp_path / "rootfs.tar"
    with tarfile.open(image, "w") as archive:
        archive.add(root, arcname=".")
    from_image = in_image(image, script, cwd=COFFER_CWD)
    from_rootfs = run_busybox_in_coffer(script, root=root)
    workdir = tmp_path / "native"
    workdir.mkdir()
    natively = run_busybox_native(script, cwd=workdir, applets=host_applet_dir(tmp_path))
    assert (from_image.status, from_image.stdout) == (from_rootfs.status, from_rootfs.stdout)
    assert (from_image.status, from_image.stdout) == (natively.status, natively.stdout)


def test_the_containers_of_a_run_share_one_reading_of_the_archive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cofferos.coffers.fs import image as image_module
    from cofferos.sim.experiment import run_containers

    archive = images.docker_save(tmp_path / "shared.tar")
    reads = []
    real = image_module._read_archive
    monkeypatch.setattr(image_module, "_read_archive",
                        lambda *args: reads.append(args) or real(*args))
    report = run_containers("cat", ["/etc/x"], kernel="linux", containers=3, cores=1,
                            base=CofferConfig(image=str(archive)), inside=True)
    assert [c.stdout for c in report.containers] == [b"x of the upper layer\n"] * 3
    assert len(reads) == 1


def test_an_oci_layout_directory_is_read_as_its_image(built: dict[str, Path],
                                                      tmp_path: Path) -> None:
    """skopeo and buildah write OCI layouts as directories: the image, not the layout's
    own files, is then the coffer's root."""
    layout = tmp_path / "layout"
    with tarfile.open(built["oci"]) as archive:
        archive.extractall(layout, filter="data")
    coffer = in_image(layout, TREE_SCRIPT)
    assert coffer.stdout == native(built["dir"], TREE_SCRIPT).stdout and coffer.status == 0
    blob = next((layout / "blobs" / "sha256").iterdir())
    blob.unlink()
    with pytest.raises(ConfigError, match="is not in the layout"):
        Coffer(CofferConfig(image=str(layout)))


@needs("tar")
def test_a_sparse_member_reads_as_its_data_and_holes_and_counts_in_full(tmp_path: Path) -> None:
    """GNU tar's sparse members (``tar -S``) are read through tarfile, holes filled."""
    root = tmp_path / "tree"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "busybox").write_bytes(BUSYBOX.read_bytes())
    (root / "bin" / "busybox").chmod(0o755)
    (root / "bin" / "sh").symlink_to("busybox")
    with open(root / "sparse", "wb") as sparse:
        sparse.write(b"head")
        sparse.truncate(3 * MIB)
        sparse.seek(0, 2)
        sparse.write(b"tail")
    image = tmp_path / "sparse.tar"
    subprocess.run(["tar", "-S", "-C", str(root), "-cf", str(image), "."], check=True,
                   timeout=NATIVE_TIMEOUT_S)
    assert image.stat().st_size < 3 * MIB  # the hole is not in the archive
    result = in_image(image, "/bin/busybox wc -c /sparse; /bin/busybox tail -c 4 /sparse")
    assert result.stdout == f"{3 * MIB + 4} /sparse\ntail".encode()
    with pytest.raises(ImageError, match="disk limit"):
        load_image(str(image), size_limit=2 * MIB)

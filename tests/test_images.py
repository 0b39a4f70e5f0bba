"""Template images are read at plan time: a disk too small for its image, or a missing image file,
fails before any resource exists. Images are real files made with the real qemu-img."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pulumi
import pytest

from tests.declarations import valid
from tests.harness import last_registrations, run_program
from tests.images import make_image
from vmfleet import images
from vmfleet.images import GIB, ImageUnreadable, gib_text, virtual_size, whole_gib
from vmfleet.load import plan
from vmfleet.problems import FleetDeclarationError


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="module")
def big(image_dir: Path) -> str:
    return make_image(image_dir, "big.qcow2", "3G")


@pytest.fixture(scope="module")
def one_gib(image_dir: Path) -> str:
    return make_image(image_dir, "one.qcow2", "1G")


def declaration_with_image(path: str, **template: Any) -> dict[str, Any]:
    raw = valid()
    raw["templates"][0].update(image_path=path, **template)
    return raw


def problems_of(raw: Any) -> dict[str, str]:
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw, inspect_image=virtual_size)
    return {problem.path: problem.message for problem in caught.value.problems}


# the inspector ---------------------------------------------------------------------------------------


def test_virtual_size_is_read_not_the_size_on_disk(image_dir: Path, big: str) -> None:
    assert os.path.getsize(big) < 1024**2, "a sparse image: tiny on disk"
    assert virtual_size(big, "qcow2") == 3 * GIB
    raw = make_image(image_dir, "half.raw", "1536M", "raw")
    assert virtual_size(raw, "raw") == 1536 * 1024**2


def test_missing_file_directory_and_wrong_format_are_unreadable(image_dir: Path) -> None:
    with pytest.raises(ImageUnreadable, match="no such file on this machine"):
        virtual_size(str(image_dir / "absent.qcow2"), "qcow2")
    with pytest.raises(ImageUnreadable, match="not a regular file"):
        virtual_size(str(image_dir), "qcow2")
    raw = make_image(image_dir, "disk.raw", "1G", "raw")
    with pytest.raises(ImageUnreadable, match=r"cannot read it as a qcow2 image \(.*not in qcow2 format"):
        virtual_size(raw, "qcow2")


def test_qemu_img_that_is_slow_or_missing(big: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImageUnreadable, match="did not answer within"):
        virtual_size(big, "qcow2", timeout_seconds=1e-6)
    monkeypatch.setattr(images, "QEMU_IMG", "qemu-img-that-is-not-installed")
    with pytest.raises(ImageUnreadable, match="install Debian's qemu-utils"):
        virtual_size(big, "qcow2")


def test_sizes_in_words() -> None:
    assert [whole_gib(n) for n in (1, GIB, GIB + 1, 3 * GIB)] == [1, 1, 2, 3]
    assert [gib_text(n) for n in (3 * GIB, 3 * GIB // 2, 24721408)] == ["3 GiB", "1.5 GiB", "24 MiB"]


# the plan ------------------------------------------------------------------------------------------


def test_image_larger_than_the_disk_fails_and_says_where_the_size_comes_from(big: str) -> None:
    found = problems_of(declaration_with_image(big))
    message = found["vms[0] (web).size"]
    assert message.startswith("found a disk of 1 GiB (size 'nano'), smaller than template 'tiny''s image")
    assert f"needs 3 GiB (the virtual size of {big} as qemu-img reads it is 3 GiB" in message
    assert "templates[0] (tiny).min_disk_gib says 1" in message
    assert message.endswith("choose a size with a disk of at least 3 GiB")
    assert "vms[1] (db).size" in found, "the small size's 2 GiB disk is too small as well"


def test_a_disk_as_large_as_the_image_passes(big: str) -> None:
    raw = declaration_with_image(big)
    raw["vms"][0]["size"] = "big"
    raw["vms"][1]["resources"] = {"disk_gib": 3}
    result = plan(raw, inspect_image=virtual_size)
    assert [vm.disk_gib for vm in result.instances] == [4, 4, 3]


def test_explicit_disk_is_named_at_resources(big: str) -> None:
    raw = declaration_with_image(big)
    raw["vms"][0]["size"] = "big"
    raw["vms"][1]["resources"] = {"disk_gib": 2}
    assert set(problems_of(raw)) == {"vms[1] (db).resources.disk_gib"}


def test_min_disk_gib_wins_when_larger_than_the_file(one_gib: str) -> None:
    found = problems_of(declaration_with_image(one_gib, min_disk_gib=2))
    message = found["vms[0] (web).size"]
    assert f"needs 2 GiB (templates[0] (tiny).min_disk_gib says 2; qemu-img reads 1 GiB in {one_gib})" in message
    assert "vms[1] (db).size" not in found


def test_image_url_templates_trust_min_disk_gib() -> None:
    raw = valid()
    del raw["templates"][0]["image_path"]
    raw["templates"][0].update(image_url="https://images.example.com/tiny.qcow2", min_disk_gib=2)
    found = problems_of(raw)
    assert set(found) == {"vms[0] (web).size"}, "no file is read for an image_url"
    assert (
        "templates[0] (tiny).min_disk_gib says 2; an image_url is not read before deployment"
        in found["vms[0] (web).size"]
    )


def test_missing_image_file_is_a_problem_reported_with_the_others(image_dir: Path) -> None:
    absent = str(image_dir / "x.qcow2")
    raw = declaration_with_image(absent)
    raw["vms"][1]["tags"] = {"expires": "soon"}
    found = problems_of(raw)
    assert set(found) == {"templates[0] (tiny).image_path", "vms[1] (db).tags.expires"}
    assert found["templates[0] (tiny).image_path"].startswith(f"found {absent!r}; no such file on this machine")


def test_each_image_file_is_read_once(big: str) -> None:
    raw = declaration_with_image(big)
    raw["templates"].append({**raw["templates"][0], "name": "tiny-copy"})
    raw["vms"][0]["size"] = raw["vms"][1]["size"] = "big"
    calls: list[tuple[str, str]] = []

    def counting(path: str, image_format: str) -> int:
        calls.append((path, image_format))
        return virtual_size(path, image_format)

    plan(raw, inspect_image=counting)
    assert calls == [(big, "qcow2")]


# the program ---------------------------------------------------------------------------------------


def test_program_reads_images_before_registering_anything(big: str, image_dir: Path, one_gib: str) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        run_program(declaration_with_image(big), keep_image_paths=True)
    assert "vms[0] (web).size: found a disk of 1 GiB (size 'nano'), smaller than" in str(caught.value)
    assert last_registrations() == []

    absent = str(image_dir / "absent.qcow2")
    with pytest.raises(pulumi.RunError, match=r"templates\[0\] \(tiny\).image_path: found '.*absent.qcow2'; no such"):
        run_program(declaration_with_image(absent), keep_image_paths=True)
    assert last_registrations() == []

    built = run_program(declaration_with_image(one_gib), keep_image_paths=True)
    bases = [r for r in built.of_type("pulumi-python:dynamic:Resource") if "source" in r.inputs]
    assert {base.inputs["source"] for base in bases} == {one_gib}

"""The local node's table of the images it stands in for (working directory, writable paths)."""

from __future__ import annotations

from typing import Any

import pytest

from rayop.local.localnode import images, launcher


@pytest.mark.parametrize(("image", "repo"), [
    ("redis:7.4.0", "redis"),
    ("docker.io/library/redis:7.4.0", "redis"),
    ("redis@sha256:abc", "redis"),
    ("localhost:5000/team/redis:1", "team/redis"),
    ("ghcr.io/bitnami/redis", "bitnami/redis"),
    ("rayproject/ray:2.52.0", "rayproject/ray"),
])
def test_repository_drops_registry_library_tag_and_digest(image: str, repo: str) -> None:
    assert images.repository(image) == repo


def test_the_redis_image_gets_its_data_directory() -> None:
    stand_in = images.stand_in_for("redis:7.4.0")
    assert stand_in is not None and stand_in.working_dir == "/data" and stand_in.writable == ("/data",)


def test_an_image_not_in_the_table_gets_nothing() -> None:
    assert images.stand_in_for("rayproject/ray:2.52.0") is None
    assert images.stand_in_for("myorg/redis-exporter:1") is None


def test_a_writable_path_is_bind_mounted_in_the_private_namespace() -> None:
    spec = launcher.LaunchSpec(netns="n", argv=["redis-server"], hostname="h", working_dir="/data",
                               mounts=[launcher.Mount("/pods/x/image-path-0", "/data")])
    script = launcher.setup_script(spec)
    assert "--bind /pods/x/image-path-0 /data" in script
    assert script.index("--bind /pods/x/image-path-0 /data") < script.index("cd /data")


def test_mpi_operators_images_get_their_ssh_settings_first_and_a_privilege_separation_dir() -> None:
    stand_in = images.stand_in_for("mpioperator/openmpi:0.6.0")
    assert stand_in is not None and stand_in.writable == ("/run/sshd",)
    files = dict(stand_in.prepend)
    assert files["/etc/ssh/ssh_config"].splitlines() == ["StrictHostKeyChecking no", "UserKnownHostsFile /dev/null"]
    assert files["/etc/ssh/sshd_config"].splitlines() == ["StrictModes no"]


def test_prepended_settings_come_before_the_hosts_file(tmp_path: Any) -> None:
    host = tmp_path / "ssh_config"
    host.write_text("Host *\n    SendEnv LANG\n")
    assert images.with_prepended("StrictHostKeyChecking no", str(host)) == (
        "StrictHostKeyChecking no\nHost *\n    SendEnv LANG\n")
    assert images.with_prepended("A b\n", str(tmp_path / "missing")) == "A b\n"

"""docker/: the compose files as Docker Compose itself reads them, and the images' ground rules.

The compose checks run the real Compose CLI that `bash docker/install-compose.sh` installs into
var/tools/ (these machines have no Docker). Without it they are skipped with that instruction,
and only `test_structure_read_with_pyyaml_only` below looks at the file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from moodwatch.settings import Settings, load_settings
from tests.unit.command_lines import command_problem

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE_CLI = REPO / "var" / "tools" / "bin" / "docker-compose"
PLUGIN_DIR = REPO / "var" / "tools" / "docker"

APP_SERVICES = ("worker", "worker-cuda", "alerter", "scheduler", "dashboard")
ALL_PROFILES = ("kibana", "cuda")
SETTING_VARIABLES = {f"MOODWATCH_{name.upper()}" for name in Settings.model_fields}

needs_compose = pytest.mark.skipif(
    not COMPOSE_CLI.exists(),
    reason="Compose CLI missing: run `bash docker/install-compose.sh` (builds it into var/tools/)",
)


def run_compose(
    tmp_path: Path,
    *args: str,
    files: tuple[str, ...] = ("compose.yml",),
    variables: str = "",
    project_dir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Compose with a clean environment: nothing from the caller's shell or a docker/.env."""
    env_file = tmp_path / "compose-variables.env"
    env_file.write_text(variables)
    command = [str(COMPOSE_CLI)]
    for name in files:
        command += ["-f", str(DOCKER / name)]
    if project_dir is not None:
        command += ["--project-directory", str(project_dir)]
    command += ["--env-file", str(env_file), *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def render(tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    profiles = [arg for name in ALL_PROFILES for arg in ("--profile", name)]
    done = run_compose(tmp_path, *profiles, "config", "--format", "json", **kwargs)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    return config


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rendered: dict[str, Any] = render(tmp_path_factory.mktemp("compose"))["services"]
    return rendered


# --- the real parser -----------------------------------------------------------------------


@needs_compose
@pytest.mark.parametrize("profiles", [(), ALL_PROFILES], ids=["default", "all-profiles"])
def test_compose_file_validates(tmp_path: Path, profiles: tuple[str, ...]) -> None:
    flags = [arg for name in profiles for arg in ("--profile", name)]
    done = run_compose(tmp_path, *flags, "config", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


@needs_compose
def test_validator_rejects_a_broken_file(tmp_path: Path) -> None:
    # Proof that the check above can fail: one misspelt key is a schema error.
    broken = tmp_path / "broken.yml"
    broken.write_text(
        (DOCKER / "compose.yml").read_text().replace("healthcheck:", "healthchek:", 1)
    )
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(COMPOSE_CLI), "-f", str(broken), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode != 0
    assert "healthchek" in done.stderr


@needs_compose
def test_the_stack_has_its_services(services: dict[str, Any]) -> None:
    assert set(services) == {
        "kafka",
        "elasticsearch",
        "kibana",
        "worker",
        "worker-cuda",
        "alerter",
        "scheduler",
        "dashboard",
    }
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    assert services["elasticsearch"]["image"] == (
        "docker.elastic.co/elasticsearch/elasticsearch:8.14.3"
    )
    assert services["kibana"]["profiles"] == ["kibana"]
    assert services["worker-cuda"]["profiles"] == ["cuda"]
    for name in ("kafka", "elasticsearch", "worker", "alerter", "scheduler", "dashboard"):
        assert "profiles" not in services[name], f"{name} must start without a profile"
    assert services["worker"]["command"] == ["moodwatch", "worker"]
    assert services["worker-cuda"]["command"] == ["moodwatch", "worker"]
    assert services["alerter"]["command"] == ["moodwatch", "alerter"]
    assert services["scheduler"]["command"] == ["moodwatch", "scheduler"]
    assert services["dashboard"]["command"] == ["moodwatch", "dashboard"]
    assert [(p["published"], p["target"]) for p in services["dashboard"]["ports"]] == [
        ("8501", 8501)
    ]


@needs_compose
def test_every_app_command_and_health_check_command_parses_against_the_cli(
    services: dict[str, Any],
) -> None:
    for name in APP_SERVICES:
        assert command_problem(services[name]["command"]) is None, name
        test = services[name]["healthcheck"]["test"]
        if test[:2] == ["CMD", "moodwatch"]:
            assert command_problem(test[1:]) is None, f"{name} health check"


@needs_compose
def test_every_service_has_a_health_check(services: dict[str, Any]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name
    # The web health checks ask the port the process really serves on.
    assert "6066/health" in " ".join(services["worker"]["healthcheck"]["test"])
    assert "6066/health" in " ".join(services["worker-cuda"]["healthcheck"]["test"])
    assert "6068/health" in " ".join(services["alerter"]["healthcheck"]["test"])
    assert "8501/_stcore/health" in " ".join(services["dashboard"]["healthcheck"]["test"])


@needs_compose
def test_workers_can_be_scaled(services: dict[str, Any]) -> None:
    for name in ("worker", "worker-cuda", "alerter"):
        worker = services[name]
        # A fixed name or a published port would make `--scale worker=3` fail on the 2nd replica.
        assert "container_name" not in worker
        assert "ports" not in worker


@needs_compose
def test_app_services_wait_for_healthy_kafka_and_elasticsearch(services: dict[str, Any]) -> None:
    for name in (*APP_SERVICES, "kibana"):
        depends = services[name]["depends_on"]
        wanted = ("elasticsearch",) if name == "kibana" else ("kafka", "elasticsearch")
        for upstream in wanted:
            assert depends[upstream]["condition"] == "service_healthy", (name, upstream)
    assert "kafka-broker-api-versions.sh" in " ".join(services["kafka"]["healthcheck"]["test"])
    assert "_cluster/health" in " ".join(services["elasticsearch"]["healthcheck"]["test"])


@needs_compose
def test_elasticsearch_is_local_only_single_node(services: dict[str, Any]) -> None:
    env = services["elasticsearch"]["environment"]
    assert env["xpack.security.enabled"] == "false"
    assert env["discovery.type"] == "single-node"
    assert env["ES_JAVA_OPTS"] == "-Xms1g -Xmx1g"


@needs_compose
def test_kafka_advertises_one_address_per_side(tmp_path: Path, services: dict[str, Any]) -> None:
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert advertised == ["INTERNAL://kafka:9092", "HOST://localhost:29092"]
    assert [(p["published"], p["target"]) for p in services["kafka"]["ports"]] == [("29092", 29092)]
    # Moving the host port must move the advertised address with it, or host clients break.
    moved = render(tmp_path, variables="KAFKA_HOST_PORT=39092\n")["services"]["kafka"]
    assert "HOST://localhost:39092" in moved["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert [p["published"] for p in moved["ports"]] == ["39092"]


@needs_compose
def test_app_services_are_configured_by_moodwatch_settings_only(
    services: dict[str, Any], clean_env: pytest.MonkeyPatch
) -> None:
    for name in APP_SERVICES:
        env: dict[str, str] = services[name]["environment"]
        assert env, name
        unknown = set(env) - SETTING_VARIABLES
        assert not unknown, f"{name}: not MOODWATCH_* settings: {sorted(unknown)}"
        # The values must also pass the settings' own validation.
        for key, value in env.items():
            clean_env.setenv(key, value)
        settings = load_settings()
        assert settings.bootstrap_servers == ["kafka:9092"]
        assert settings.es_urls == ["http://elasticsearch:9200"]
        for key in env:
            clean_env.delenv(key)
    assert services["worker"]["environment"]["MOODWATCH_DEVICE"] == "cpu"
    assert services["worker-cuda"]["environment"]["MOODWATCH_DEVICE"] == "cuda"


@needs_compose
def test_gpu_worker_reserves_a_gpu(services: dict[str, Any]) -> None:
    worker = services["worker-cuda"]
    assert worker["build"]["dockerfile"] == "docker/Dockerfile.cuda"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


@needs_compose
def test_model_registry_is_one_volume_shared(services: dict[str, Any]) -> None:
    def registry_mount(name: str) -> dict[str, Any]:
        (mount,) = [v for v in services[name]["volumes"] if v["source"] == "registry"]
        assert isinstance(mount, dict)
        assert mount["type"] == "volume"
        assert mount["target"] == services[name]["environment"]["MOODWATCH_REGISTRY_PATH"]
        return mount

    assert not registry_mount("scheduler").get("read_only")
    assert not registry_mount("worker").get("read_only")
    assert not registry_mount("worker-cuda").get("read_only")
    assert registry_mount("dashboard")["read_only"] is True


@needs_compose
def test_env_file_reaches_the_apps_but_cannot_rewire_them(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "moodwatch.env").write_text(
        "MOODWATCH_LOG_LEVEL=DEBUG\nMOODWATCH_ES_HOSTS=http://elsewhere:9200\n"
    )
    worker = render(tmp_path, project_dir=project)["services"]["worker"]
    assert worker["environment"]["MOODWATCH_LOG_LEVEL"] == "DEBUG"
    assert worker["environment"]["MOODWATCH_ES_HOSTS"] == "http://elasticsearch:9200"


@needs_compose
def test_secure_override_turns_on_tls_and_needs_a_password(tmp_path: Path) -> None:
    files = ("compose.yml", "compose.secure.yml")
    missing = run_compose(tmp_path, "config", "-q", files=files)
    assert missing.returncode != 0
    assert "ELASTIC_PASSWORD" in missing.stderr

    services = render(tmp_path, files=files, variables="ELASTIC_PASSWORD=test-only\n")["services"]
    es = services["elasticsearch"]["environment"]
    assert es["xpack.security.enabled"] == "true"
    assert es["xpack.security.http.ssl.enabled"] == "true"
    assert services["elasticsearch"]["depends_on"]["es-certs"]["condition"] == (
        "service_completed_successfully"
    )
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["MOODWATCH_ES_HOSTS"] == "https://elasticsearch:9200"
        ca_cert = env["MOODWATCH_ES_CA_CERT"]
        mounts = [v for v in services[name]["volumes"] if v["source"] == "es-certs"]
        assert len(mounts) == 1
        assert mounts[0]["read_only"] is True
        assert ca_cert.startswith(mounts[0]["target"] + "/")
        assert set(env) <= SETTING_VARIABLES


@needs_compose
@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI on this machine")
def test_docker_compose_plugin_form_works(tmp_path: Path) -> None:
    # The command the docs give, `docker compose ... config`, through the plugin link.
    docker = shutil.which("docker")
    assert docker is not None
    done = subprocess.run(
        [docker, "compose", "-f", str(DOCKER / "compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "DOCKER_CONFIG": str(PLUGIN_DIR)},
    )
    assert done.returncode == 0, done.stderr


# --- without the Compose CLI ---------------------------------------------------------------


def test_structure_read_with_pyyaml_only() -> None:
    """A coarse check that runs even without Compose: PyYAML, anchors resolved, no merging."""
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text())
    services = compose["services"]
    wanted = {"kafka", "elasticsearch", "worker", "alerter", "scheduler", "dashboard"}
    assert wanted <= set(services)
    assert "container_name" not in services["worker"]
    assert services["elasticsearch"]["environment"]["xpack.security.enabled"] == "false"
    for name in APP_SERVICES:
        assert all(key.startswith("MOODWATCH_") for key in services[name]["environment"])
    assert set(compose["volumes"]) >= {"registry"}


# --- images --------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_images_run_unprivileged_and_carry_no_secrets(dockerfile: str) -> None:
    text = (DOCKER / dockerfile).read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    final_stage = text.rsplit("\nFROM ", 1)[1]
    user = re.findall(r"^USER\s+(\S+)", final_stage, flags=re.MULTILINE)
    assert user, "the final stage must switch USER"
    assert user[-1] not in ("root", "0"), "the final image must not run as root"
    secret = re.compile(r"(PASSWORD|API_KEY|SECRET|TOKEN)\s*=", re.IGNORECASE)
    for line in text.splitlines():
        if line.lstrip().startswith(("ENV", "ARG")):
            assert not secret.search(line), f"{dockerfile}: secret-looking build value: {line}"


def test_cpu_image_takes_cpu_torch_and_cuda_image_defaults_to_cuda() -> None:
    assert "download.pytorch.org/whl/cpu" in (DOCKER / "Dockerfile").read_text()
    assert "MOODWATCH_DEVICE=cuda" in (DOCKER / "Dockerfile.cuda").read_text()


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env", "**/__pycache__", "docker/moodwatch.env"} <= ignored


# --- every command is a real one (PyYAML only, so it runs without Compose too) ------------


def _commands(compose_text: str) -> dict[str, list[str]]:
    services = yaml.safe_load(compose_text)["services"]
    return {name: s["command"] for name, s in services.items() if name in APP_SERVICES}


def test_every_app_service_runs_a_real_moodwatch_command() -> None:
    commands = _commands((DOCKER / "compose.yml").read_text())
    assert set(commands) == set(APP_SERVICES)
    for name, command in commands.items():
        assert command_problem(command) is None, name


def test_a_misspelt_service_command_would_be_caught() -> None:
    broken = (DOCKER / "compose.yml").read_text().replace(
        '["moodwatch", "scheduler"]', '["moodwatch", "scheduler", "--no-initial-runs"]', 1
    )
    problems = {name: command_problem(cmd) for name, cmd in _commands(broken).items()}
    assert problems["scheduler"] is not None
    assert "--no-initial-runs" in problems["scheduler"]

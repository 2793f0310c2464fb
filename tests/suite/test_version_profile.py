"""The suite judges a target by its version: fields its version lacks are not required, routes its
version does not register are not collected, and `--mm-expect auto` picks the shipped deviations of
its version (none for the embedded reference server, which has none)."""

from __future__ import annotations

import pytest

from mmv3.catalog import load_catalog
from mmv3.server.app import ReferenceServer
from mmv3.server.config import Config, ServerOptions
from mmv3.server.runner import RunningServer

from .conformance_run import run_suite
from .secret_tap import create_account

pytestmark = pytest.mark.slow

FAST_LIMIT = ["--mm-embedded-rate-limit", "2000/200"]
USER_ROUTES = "conformance/test_schema.py::test_success_body[GET /api/v3/users/me]"
# A shipped 4.9 deviation the reference server does not reproduce (it refuses the plain user).
HOLE = "conformance/test_auth.py::test_regular_user_refused[POST /api/v3/users/revoke_session]"


def test_a_field_the_target_version_lacks_is_not_required(tmp_path):
    """Fault schema-no-timezone makes the server send users as 4.8 does: a 4.9 target fails for it,
    the same answers judged as 4.8 pass."""
    fault = ["--mm-embedded-fault", "schema-no-timezone", *FAST_LIMIT]
    as_reported = run_suite(fault, reports=tmp_path / "a", tests=[USER_ROUTES], timeout=300)
    assert as_reported.returncode == 1, as_reported.tail()
    assert "$.timezone: expected property to be present" in as_reported.failures[0].message
    assert "version profile: 4.9.0: as in the source of 4.9.0" in as_reported.stdout
    as_4_8 = run_suite(
        [*fault, "--mm-version", "4.8"], reports=tmp_path / "b", tests=[USER_ROUTES], timeout=300
    )
    assert as_4_8.returncode == 0, as_4_8.tail()
    assert "version profile: 4.8.0: as in the source of 4.8.0" in as_4_8.stdout
    assert "--mm-version" in as_4_8.matrix()["environment"]["Version profile"]


def test_routes_the_target_version_does_not_serve_are_not_collected(tmp_path):
    run = run_suite(["-m", "schema", "--mm-version", "3.0", *FAST_LIMIT], reports=tmp_path, timeout=300)
    assert run.returncode == 0, run.tail()
    served = load_catalog().served_by("3.0")
    assert sorted(c.route for c in run.cases) == sorted(op.key for op in served)
    assert len(served) < len(load_catalog())
    assert (
        f"{len(served)} of {len(load_catalog())} routes served"
        in run.matrix()["environment"]["Version profile"]
    )


def test_a_bad_mm_version_is_a_usage_error(tmp_path):
    run = run_suite(["--mm-version", "newest"], reports=tmp_path, tests=[USER_ROUTES], timeout=120)
    assert run.returncode == 4, run.tail()
    assert "--mm-version: not a Mattermost version" in run.stderr and "Traceback" not in run.stderr


def test_auto_is_none_for_the_embedded_reference_server(tmp_path):
    run = run_suite(["--mm-expect", "auto", *FAST_LIMIT], reports=tmp_path, tests=[HOLE], timeout=300)
    assert run.returncode == 0, run.tail()
    assert "known deviations: none (auto: the embedded reference server" in run.stdout


def _external(build_number: str | None):
    config = Config({"TeamSettings": {"EnableOpenServer": True}})
    options = ServerOptions(db=":memory:", bcrypt_cost=4)
    if build_number is not None:
        options.build_number = build_number
    server = RunningServer(ReferenceServer(config, options)).start()
    try:
        admin, admin_password = create_account(server.url, "veradmin")
        user, password = create_account(server.url, "veruser")
        env = {"MMV3_USER": user, "MMV3_PASSWORD": password, "MMV3_ADMIN": admin}
        env["MMV3_ADMIN_PASSWORD"] = admin_password
        yield server.url, env
    finally:
        server.stop()


@pytest.fixture(scope="module")
def external():
    """A reference server given by URL with a real release's build number: it reports 4.9.0 like
    real 4.9, so `auto` treats it as one."""
    yield from _external("4.9.0-rc3")


def test_auto_applies_nothing_to_the_reference_server_by_url(tmp_path):
    """`mmv3 serve` reached by URL names itself in its build number: auto applies no deviations
    (its fidelity exceptions are what 4.9 meant, so 4.9's shipped holes would all be 'gone')."""
    for url, env in _external(None):
        run = run_suite(["--base-url", url, "--mm-expect", "auto"], reports=tmp_path, tests=[HOLE], env=env)
        assert run.returncode == 0, run.tail()
        assert "mmv3's reference server, which has no known deviations" in run.stdout


def test_auto_picks_the_deviations_of_the_reported_version(external, tmp_path):
    url, env = external
    args = ["--base-url", url, "--mm-expect", "auto"]
    as_4_9 = run_suite(args, reports=tmp_path / "a", tests=[HOLE], env=env, timeout=300)
    # The 4.9 file is in force: its revoke_session hole is not reproduced here, so it is "gone".
    assert as_4_9.returncode == 1, as_4_9.tail()
    assert "[deviation gone]" in as_4_9.failures[0].message
    chosen = as_4_9.matrix()["environment"]["Known deviations"]
    assert chosen.endswith("mattermost-4.9.yaml (auto: mattermost-4.9.yaml (shipped for Mattermost 4.9))")
    as_3_3 = run_suite([*args, "--mm-version", "3.3"], reports=tmp_path / "b", tests=[HOLE], env=env)
    assert as_3_3.returncode == 0, as_3_3.tail()
    assert "known deviations: none (auto: no shipped deviations for Mattermost 3.3" in as_3_3.stdout
    as_3_9 = run_suite([*args, "--mm-version", "3.9"], reports=tmp_path / "d", tests=[HOLE], env=env)
    assert (
        "mattermost-3.4.yaml (auto: mattermost-3.4.yaml (shipped for Mattermost 3.4, the nearest"
        in as_3_9.stdout
    )
    as_3_10 = run_suite([*args, "--mm-version", "3.10"], reports=tmp_path / "c", tests=[HOLE], env=env)
    assert "mattermost-3.10.yaml (auto: mattermost-3.10.yaml (shipped for Mattermost 3.10))" in as_3_10.stdout

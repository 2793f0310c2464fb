"""Version profiles: schemas/versions.json (derived from each release's source) decides which routes a
target serves and which model fields it must send, and `--expect auto` picks deviations by version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmv3 import versions
from mmv3.catalog import load_catalog
from mmv3.paths import REPO_ROOT
from mmv3.schemas import default_registry
from mmv3.suite import expectations

MIRROR = Path("/work/.mirror/AL-Cui+mattermost-server/repo")
TOOL = REPO_ROOT / "tools" / "derive_versions.py"


def _user(**extra: object) -> dict:
    user = {
        "id": "u1", "create_at": 1, "update_at": 1, "delete_at": 0, "username": "someone", "auth_data": "",
        "auth_service": "", "email": "someone@example.com", "nickname": "", "first_name": "", "last_name": "",
        "position": "", "roles": "system_user", "locale": "en",
    }  # fmt: skip
    user.update(extra)
    return user


# ------------------------------------------------------------------------------------ the data file
def test_every_catalogue_route_and_every_mapped_field_has_its_releases():
    facts = versions.load_facts()
    assert set(facts.routes) == {op.key for op in load_catalog()}
    registry = default_registry()
    for model, spans in facts.fields.items():
        declared = set(registry.schema(model).get("properties", {}))
        assert set(spans) == declared, model
    assert facts.tags[0] == "3.0.0" and facts.tags[-1] == "4.9.0"


def test_the_facts_match_what_real_3_10_was_seen_to_lack():
    """Measured on real 3.10.3 (issue #12): it sends no user `timezone`, no command response `type`,
    no incoming hook `username`; the source says when each came."""
    fields = versions.load_facts().fields
    assert fields["User"]["timezone"].since == "4.9.0"
    assert fields["CommandResponse"]["type"].since == "4.3.0"
    assert fields["IncomingWebhook"]["username"].since == "4.6.0"


@pytest.mark.skipif(not MIRROR.is_dir(), reason="the Mattermost source mirror is not on this machine")
def test_the_committed_facts_are_what_the_tool_derives_from_the_source(tmp_path):
    done = subprocess.run(
        [sys.executable, str(TOOL), "--mirror", str(MIRROR), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_tool_reads_routes_and_fields_from_go_source():
    sys.path.insert(0, str(TOOL.parent))
    try:
        import derive_versions as tool
    finally:
        sys.path.pop(0)
    api = {
        "api.go": (
            "BaseRoutes.Root = Srv.Router\n"
            "BaseRoutes.ApiRoot = Srv.Router.PathPrefix(model.API_URL_SUFFIX).Subrouter()\n"
            'BaseRoutes.Users = BaseRoutes.ApiRoot.PathPrefix("/users").Subrouter()\n'
            'BaseRoutes.NeedUser = BaseRoutes.Users.PathPrefix("/{user_id:[A-Za-z0-9]{26}}").Subrouter()\n'
        ),
        "user.go": (
            'BaseRoutes.Users.Handle("/login", ApiAppHandler(login)).Methods("POST")\n'
            '// BaseRoutes.Users.Handle("/gone", ApiAppHandler(gone)).Methods("POST")\n'
            'BaseRoutes.NeedUser.Handle("/get",\n\tApiUserRequired(getUser)).Methods("GET")\n'
            'BaseRoutes.Root.Handle("/login/sso/saml", AppHandlerIndependent(saml)).Methods("GET", "POST")\n'
        ),
    }
    assert tool.routes_of(api) == {
        ("POST", "/api/v3/users/login"),
        ("GET", "/api/v3/users/{user_id}/get"),
        ("GET", "/login/sso/saml"),
        ("POST", "/login/sso/saml"),
    }
    model = {"user.go": 'type User struct {\n\tId string `json:"id"`\n\tX int `db:"-" json:"x,omitempty"`\n'
             '\tY int `json:"-"`\n}\n'}  # fmt: skip
    assert tool.structs_of(model) == {"User": {"id", "x"}}


# ------------------------------------------------------------------------------------ profiles
@pytest.mark.parametrize(
    ("version", "tags"),
    [
        ("3.10.0", ("3.10.0", "3.10.1", "3.10.2", "3.10.3")),  # every 3.10.x build reports 3.10.0
        ("3.10", ("3.10.0", "3.10.1", "3.10.2", "3.10.3")),
        ("3.10.3", ("3.10.3",)),  # --mm-version naming a release
        ("4.7.1", ("4.7.1", "4.7.2", "4.7.3")),  # 4.7.2 and 4.7.3 report 4.7.1
        ("4.9.0", ("4.9.0",)),
        ("4.10.0", ("4.9.0",)),  # newer than the source examined: the newest release examined
        ("2.2.0", ("3.0.0",)),
    ],
)
def test_a_version_stands_for_the_releases_that_report_it(version, tags):
    assert versions.profile(version).tags == tags


def test_an_item_applies_only_when_every_matching_release_has_it():
    facts = versions.VersionFacts.from_data(
        {
            "tags": ["3.10.0", "3.10.1", "3.10.2", "4.0.0"],
            "reported": {"3.10.0": "3.10.0", "3.10.1": "3.10.0", "3.10.2": "3.10.0", "4.0.0": "4.0.0"},
            "routes": {"GET /a": {"since": "3.10.2", "until": None}, "GET /b": {"since": "3.10.0", "until": "3.10.2"}},
            "models": {"M": {"fields": {"f": {"since": "3.10.1", "until": None}}}},
        }
    )  # fmt: skip
    patch_line = facts.profile("3.10.0")
    assert (
        not patch_line.serves("GET /a") and patch_line.serves("GET /b") and patch_line.serves("GET /unknown")
    )
    assert not patch_line.has_field("M", "f") and patch_line.absent_fields("M") == ["f"]
    later = facts.profile("4.0.0")
    assert later.serves("GET /a") and not later.serves("GET /b") and later.has_field("M", "f")
    assert facts.profile("3.10.2").serves("GET /a")


def test_a_malformed_version_is_refused():
    with pytest.raises(versions.VersionError, match="not a Mattermost version"):
        versions.parse("latest")


# ------------------------------------------------------------------------------------ schemas
def test_a_3_10_target_need_not_send_the_fields_3_10_lacks_and_a_4_9_target_must():
    registry = default_registry()
    user = _user()
    assert registry.for_version("3.10.0").validate(user, "User") == []
    assert registry.for_version("3.10.0").validate({"u1": user}, "UserMap") == []  # through $refs too
    for version in ("4.9.0", "4.10.0", None):
        issues = registry.for_version(version).validate(user, "User")
        assert [str(i) for i in issues] == ["$.timezone: expected property to be present, got missing"]
    assert registry.for_version("3.10.0").validate(_user(timezone="x"), "User") != []  # types still hold
    response = {"response_type": "", "text": "hi", "goto_location": "", "attachments": None,
                "username": "", "icon_url": ""}  # fmt: skip
    assert registry.for_version("4.2.0").validate(response, "CommandResponse") == []
    assert registry.for_version("4.3.0").validate(response, "CommandResponse") != []


def test_the_same_releases_share_one_view_and_the_newest_is_the_schemas_as_written():
    registry = default_registry()
    assert registry.for_version("3.10.0") is registry.for_version("3.10")
    assert registry.for_version("4.9.0") is registry
    assert registry.for_version(None) is registry


# ------------------------------------------------------------------------------------ catalogue
def test_the_3_0_catalogue_lacks_the_routes_added_later():
    catalog = load_catalog()
    served = {op.key for op in catalog.served_by("3.0.0")}
    assert "POST /api/v3/users/login" in served
    assert "POST /api/v3/webrtc/token" not in served  # since 3.5.0
    assert "POST /api/v3/teams/{team_id}/channels/view" not in served
    assert len(served) + len(catalog.not_served_by("3.0.0")) == len(catalog)
    assert all(op.served is not None and op.served.since == "3.0.0" for op in catalog.served_by("3.0.0"))
    assert len(catalog.served_by("4.9.0")) == len(catalog) == len(catalog.served_by(None))


def test_catalogue_command_shows_what_applies_to_a_version():
    run = [sys.executable, "-m", "mmv3.cli", "catalogue", "--version", "3.4"]
    done = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("version 3.4.0: as in the source of 3.4.0")
    served = len(load_catalog().served_by("3.4"))
    assert lines[1].startswith(f"{served} of 187 routes served")
    assert "not served by 3.4.0 (added later; not collected for such a target):" in lines
    assert "  User: position, timezone" in lines
    data = json.loads(subprocess.run([*run, "--json"], capture_output=True, text=True, timeout=60).stdout)
    assert len(data["routes"]) == served and "POST /api/v3/webrtc/token" in data["version"]["not_served"]
    bad = subprocess.run([*run[:-1], "newest"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a Mattermost version" in bad.stderr and "Traceback" not in bad.stderr


# ------------------------------------------------------------------------------------ --expect auto
@pytest.mark.parametrize(
    ("version", "chosen"),
    [
        ("4.9.0", "mattermost-4.9.yaml"),
        ("4.10.0", "mattermost-4.9.yaml"),
        ("3.10.0", "mattermost-3.10.yaml"),
        ("4.8.1", "mattermost-4.8.yaml"),
        ("4.4.0", "mattermost-4.4.yaml"),
        ("4.6.1", "mattermost-4.4.yaml"),
        ("3.4.0", "mattermost-3.4.yaml"),
        ("3.9.0", "mattermost-3.4.yaml"),
    ],
)
def test_auto_picks_the_shipped_file_of_the_nearest_release_line_not_newer(version, chosen):
    path, reason = expectations.choose(version)
    assert path is not None and path.name == chosen and path.is_file()
    assert reason.startswith(chosen)
    assert expectations.load(path).deviations  # and it is a well-formed deviations file


@pytest.mark.parametrize("version", ["3.3.0", "4.3.0", "dev", None])
def test_auto_picks_nothing_without_a_file_for_that_line_and_says_why(version):
    path, reason = expectations.choose(version)
    assert path is None and reason.startswith("no ")


def test_auto_picks_none_for_3_10_while_only_4_9_is_shipped(tmp_path):
    (tmp_path / "mattermost-4.9.yaml").write_text("deviations: []\n")
    path, reason = expectations.choose("3.10.0", tmp_path)
    assert path is None
    assert (
        reason == "no shipped deviations for Mattermost 3.10 or an older 3.x (shipped: mattermost-4.9.yaml)"
    )


def test_auto_picks_a_3_10_file_once_one_is_shipped(tmp_path):
    for name in ("mattermost-3.10.yaml", "mattermost-4.9.yaml", "notes.yaml"):
        (tmp_path / name).write_text("deviations: []\n")
    assert expectations.choose("3.10.0", tmp_path)[0] == tmp_path / "mattermost-3.10.yaml"
    assert expectations.choose("3.9.0", tmp_path)[0] is None
    assert expectations.choose("4.10.0", tmp_path)[0] == tmp_path / "mattermost-4.9.yaml"


def test_the_reference_server_names_itself_in_its_build_number() -> None:
    """`--expect auto` applies no shipped deviations to `mmv3 serve` reached by URL: its build says so,
    and a real release's build does not."""
    from mmv3.server.config import ServerOptions

    assert versions.is_reference_build(ServerOptions().build_number)
    assert not versions.is_reference_build("4.9.0-rc3")
    assert not versions.is_reference_build("3.10.3")
    assert not versions.is_reference_build(None)

"""Provisioning a load run against the reference server (in-process), and the Retry-After probe."""

from __future__ import annotations

import pytest

from mmv3.load.messages import realistic_messages
from mmv3.load.population import TEAM_CAPACITY, Population, PopulationError, provision, read_pool_csv
from mmv3.load.probe import retry_after_probe
from mmv3.server import running_server


def test_pool_is_split_into_teams_below_the_member_limit() -> None:
    waits = []
    with running_server(rate_limit="1000/1000") as server:
        population = provision(server.url, size=TEAM_CAPACITY + 3, extra_channels=1, sleep=waits.append)
        assert len(population.teams) == 2
        assert [a.team for a in population.accounts].count(1) == 3
        names = {c["name"] for c in population.teams[0]["channels"]}
        assert {"town-square", "off-topic", f"{population.prefix}-load1"} == names
        store = server.app.store
        for account in population.accounts[:: TEAM_CAPACITY + 2]:
            team = population.teams[account.team]
            assert store.count("team_members", team_id=team["id"], user_id=account.id) == 1
            for channel in team["channels"]:
                assert store.count("channel_members", channel_id=channel["id"], user_id=account.id) == 1
    assert waits and waits[0] >= 1  # waited for the bucket to refill after ~100 requests
    assert population.settle_seconds == sum(waits)


def test_existing_accounts_from_csv(tmp_path) -> None:
    with running_server() as server:
        seed = provision(server.url, size=3, extra_channels=0)
        csv_file = tmp_path / "pool.csv"
        csv_file.write_text(
            "username,password\n" + "".join(f"{a.username},{a.password}\n" for a in seed.accounts)
        )
        pool = read_pool_csv(csv_file)
        population = provision(server.url, size=1, pool=pool, extra_channels=0, prefix="mmcsvrun")
        assert [a.username for a in population.accounts] == [a.username for a in seed.accounts]
        assert population.teams[0]["name"] == "mmcsvrun-team1"


def test_bad_pool_files(tmp_path) -> None:
    path = tmp_path / "pool.csv"
    path.write_text("login,secret\nx,y\n")
    with pytest.raises(PopulationError, match="line 2: needs username and password"):
        read_pool_csv(path)
    with pytest.raises(PopulationError, match="cannot read"):
        read_pool_csv(tmp_path / "missing.csv")


def test_unreachable_server_is_one_line() -> None:
    with running_server() as server:
        url = server.url
    with pytest.raises(PopulationError) as info:
        provision(url, size=1, timeout=2)
    assert "cannot reach" in str(info.value) and "\n" not in str(info.value)


def test_slices_share_teams_and_split_accounts() -> None:
    data = {"prefix": "p", "teams": [{"id": "t", "name": "n", "channels": []}], "accounts": []}
    data["accounts"] = [[f"u{i}", "pw", f"id{i}", 0] for i in range(5)]
    population = Population.from_data(data)
    first, second = population.slice(0, 2), population.slice(1, 2)
    assert [a.username for a in first.accounts] == ["u0", "u2", "u4"]
    assert [a.username for a in second.accounts] == ["u1", "u3"]
    assert first.teams == second.teams
    assert population.slice(7, 9).accounts  # more workers than accounts: they share
    assert Population.from_data(population.to_data()) == population


@pytest.mark.parametrize(
    ("faults", "status", "fragment"),
    [
        ((), "passed", "next request got 200"),
        (("ratelimit-never-429",), "failed", "no 429 in"),
        (("ratelimit-no-retry-after",), "failed", "without a usable Retry-After"),
    ],
)
def test_retry_after_probe(faults, status, fragment) -> None:
    with running_server(rate_limit="50/5", faults=faults) as server:
        result = retry_after_probe(server.url, limit=6)
    assert result["status"] == status, result
    assert fragment in result["message"]


def test_messages_have_realistic_lengths() -> None:
    messages = realistic_messages(400, seed=7)
    assert messages == realistic_messages(400, seed=7)
    lengths = sorted(len(m) for m in messages)
    assert lengths[len(lengths) // 2] < 120  # most are a short sentence
    assert lengths[-1] > 400  # a few are paragraphs
    assert all(0 < n <= 4000 for n in lengths)

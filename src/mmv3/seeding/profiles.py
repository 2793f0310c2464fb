"""The sizes `mmv3 seed` fills a server to, and the proportions between its entities.

A profile names four counts (teams, channels per team, users, posts); everything else follows
from them by proportions taken from Mattermost's own data generators:

- `platform sampledata` of Mattermost 4.9 (cmd/commands/sampledata.go at v4.9.0-rc3), the tool
  Mattermost ships to fill a server with realistic data: 2 team memberships per user,
  5 channel memberships per user and team, channels half open and half private, 2 direct and
  1 group channel per user (30 and 15 for its 15 users) with 3-5 members per group channel,
  1 post in 10 starts a thread whose length is geometric with mean 4 (about 29% of all posts
  are replies), 1 post in 10 gets reactions (geometric, mean 3), 1 post in 10 is flagged
  by a user, 1 channel membership in 5 is a favourite; its default volume puts 31% of the
  posts in direct and group channels (30 x 15 + 15 x 30 of 2,900).
- mattermost-load-test (loadtestconfig.default.json, the load-test tool of the 4.x servers):
  ReplyChance 0.3 (agrees with the above) and UploadImageChance 0.01 (1 post in 100 carries
  an image), 1 team of 400 channels for 1,000 users.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

TEAM_MEMBERSHIPS = 2  # teams per user (sampledata --team-memberships)
CHANNEL_MEMBERSHIPS = 5  # channels per user and team (sampledata --channel-memberships)
PRIVATE_SHARE = 0.5  # channels of type P (sampledata: rand.Intn(2))
DIRECT_PER_USER = 2  # direct channels per user (sampledata: 30 for 15 users)
GROUP_PER_USER = 1  # group channels per user (sampledata: 15 for 15 users)
GROUP_SIZE = (3, 5)  # members of a group channel (sampledata: 3 + rand.Intn(3))
DIRECT_POST_SHARE = 0.31  # posts in direct and group channels (sampledata defaults: 900 / 2900)
THREAD_CHANCE = 0.1  # a root post starts a thread (sampledata: rand.Intn(10) == 0)
THREAD_STOP = 0.25  # thread length is geometric: stop after each reply with this chance (mean 4)
REACTION_CHANCE = 0.1  # a post gets reactions (sampledata)
REACTION_STOP = 1 / 3  # reactions are geometric too (mean 3)
FLAG_CHANCE = 0.1  # a post is flagged by one user (sampledata: flagged_by)
FAVORITE_CHANCE = 0.2  # a channel membership is a favourite (sampledata)
FILE_CHANCE = 0.01  # a post carries an image (mattermost-load-test UploadImageChance)


@dataclass(frozen=True)
class Profile:
    name: str
    teams: int
    channels_per_team: int
    users: int
    posts: int

    @property
    def team_memberships(self) -> int:
        return min(TEAM_MEMBERSHIPS, self.teams)

    @property
    def channel_memberships(self) -> int:
        return min(CHANNEL_MEMBERSHIPS, self.channels_per_team)

    @property
    def direct_channels(self) -> int:
        pairs = self.users * (self.users - 1) // 2
        return min(DIRECT_PER_USER * self.users, pairs) if self.posts else 0

    @property
    def group_channels(self) -> int:
        return GROUP_PER_USER * self.users if self.users >= GROUP_SIZE[0] and self.posts else 0

    def members_per_team(self) -> int:
        """Seeded users in the fullest team (the plan spreads memberships evenly)."""
        if not self.teams:
            return 0
        return -(-self.users * self.team_memberships // self.teams)

    def describe(self) -> str:
        return (
            f"{self.name}: {self.teams} teams x {self.channels_per_team} channels, {self.users} users, "
            f"{self.posts} posts, {self.direct_channels} direct + {self.group_channels} group channels"
        )

    def validate(self) -> None:
        """ValueError (one line) for counts no server can hold."""
        for field in ("teams", "channels_per_team", "users", "posts"):
            if getattr(self, field) < 0:
                raise ValueError(f"--{field.replace('_', '-')} must be >= 0")
        if self.teams < 1 or self.users < 1:
            raise ValueError("a seed needs at least 1 team and 1 user")
        if self.posts and self.channels_per_team < 1 and self.users < 2:
            raise ValueError("posts need a channel: --channels-per-team >= 1 or --users >= 2")


PROFILES: dict[str, Profile] = {
    # sampledata's defaults (2 teams x 10 channels), a team small enough for MaxUsersPerTeam 50.
    "small": Profile("small", teams=2, channels_per_team=10, users=40, posts=1_000),
    "medium": Profile("medium", teams=4, channels_per_team=50, users=1_000, posts=100_000),
    # the "large": 10^6 posts, 10^4 users; 100 channels per team as in mattermost-load-test's
    # 400 channels per 1,000 users, scaled down to keep channels busy.
    "large": Profile("large", teams=10, channels_per_team=100, users=10_000, posts=1_000_000),
}


def resolve(name: str, **counts: int | None) -> Profile:
    """The named profile with any count overridden (`teams=`, `users=`, ...); ValueError if unknown."""
    try:
        base = PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r} (choose from {', '.join(PROFILES)})") from None
    given = {key: value for key, value in counts.items() if value is not None}
    profile = dataclasses.replace(base, **given)
    if given:
        profile = dataclasses.replace(profile, name=f"{name}+counts")
    profile.validate()
    return profile

"""What a seed creates, drawn from a seed: the same seed and profile give the same plan.

The plan knows nothing of any server: names carry no run prefix (the executor adds it) and
objects refer to each other by index. Posts come as a stream, in batches: a reply is always in
a later batch than its root, so an executor may create one batch concurrently and still have
every root id before the replies need it.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from faker import Faker

from mmv3.seeding import profiles as p
from mmv3.seeding.profiles import Profile

POST_BATCH = 200  # posts per batch at most: replies wait for the next batch after their root
EMOJIS = ("+1", "smile", "heart", "tada", "laughing", "eyes", "white_check_mark", "thinking_face", "100")
DISPLAY_SETTINGS = ("use_military_time", "collapse_previews", "channel_display_mode", "message_display")
DISPLAY_VALUES = {
    "use_military_time": ("true", "false"),
    "collapse_previews": ("true", "false"),
    "channel_display_mode": ("full", "centered"),
    "message_display": ("clean", "compact"),
}


@dataclass(frozen=True)
class TeamPlan:
    index: int
    name: str  # without the run prefix
    display_name: str
    type: str  # O or I
    description: str


@dataclass(frozen=True)
class ChannelPlan:
    index: int  # global: team channels first, then direct and group channels
    team: int  # index of its team; -1 for direct and group channels
    name: str
    display_name: str
    type: str  # O, P, D or G
    purpose: str = ""
    header: str = ""
    members: tuple[int, ...] = ()  # direct and group channels: user indexes, the creator first


@dataclass
class UserPlan:
    index: int
    name: str  # without the run prefix
    first_name: str
    last_name: str
    nickname: str
    teams: list[int]  # the first is joined through its invite id
    channels: list[int]  # team channels, added by the admin
    favorites: list[int]  # channels marked as favourite (a preference)
    display: list[tuple[str, str]]  # display_settings preferences


@dataclass(frozen=True)
class PostPlan:
    index: int
    channel: int
    author: int
    message: str
    root: int | None = None  # index of the thread's root post
    file: bool = False
    reactions: tuple[tuple[int, str], ...] = ()  # (user, emoji)
    flagged_by: int | None = None


@dataclass
class Plan:
    profile: Profile
    seed: int
    teams: list[TeamPlan]
    channels: list[ChannelPlan]
    users: list[UserPlan]
    members: dict[int, list[int]] = field(default_factory=dict)  # channel -> user indexes

    @property
    def team_channels(self) -> list[ChannelPlan]:
        return [c for c in self.channels if c.team >= 0]

    @property
    def direct_channels(self) -> list[ChannelPlan]:
        return [c for c in self.channels if c.team < 0]

    def team_sizes(self) -> list[int]:
        sizes = [0] * len(self.teams)
        for user in self.users:
            for team in user.teams:
                sizes[team] += 1
        return sizes

    @property
    def batch(self) -> int:
        """Posts per batch: POST_BATCH, smaller for few posts so that they still get threads."""
        return max(8, min(POST_BATCH, self.profile.posts // 20))

    def posts(self) -> Iterator[list[PostPlan]]:
        """The posts in batches of `batch` (replies after their root's batch)."""
        return _post_batches(self)


def build(profile: Profile, seed: int) -> Plan:
    """The plan for `profile` from `seed` (everything but the posts, which `Plan.posts` streams)."""
    rng = random.Random(seed)
    fake = Faker()
    fake.seed_instance(seed)
    teams = [
        TeamPlan(
            index=i,
            name=f"t{i + 1}",
            display_name=f"{fake.company()}"[:60],
            type="I" if rng.random() < 0.5 else "O",
            description=fake.sentence()[:255],
        )
        for i in range(profile.teams)
    ]
    channels: list[ChannelPlan] = []
    for team in teams:
        for _ in range(profile.channels_per_team):
            index = len(channels)
            channels.append(
                ChannelPlan(
                    index=index,
                    team=team.index,
                    name=f"c{index + 1}",
                    display_name=" ".join(fake.words(2)).title()[:60],
                    type="P" if rng.random() < p.PRIVATE_SHARE else "O",
                    purpose=fake.sentence()[:250],
                    header=fake.sentence()[:250],
                )
            )
    by_team: dict[int, list[int]] = {t.index: [] for t in teams}
    for channel in channels:
        by_team[channel.team].append(channel.index)

    users: list[UserPlan] = []
    count = profile.teams
    for i in range(profile.users):
        # Memberships rotate through the teams so that every team ends up equally full
        # (Mattermost caps team size: TeamSettings.MaxUsersPerTeam).
        mine = [(i + k) % count for k in range(profile.team_memberships)]
        joined: list[int] = []
        for team in mine:
            pool = by_team[team]
            joined += rng.sample(pool, min(profile.channel_memberships, len(pool)))
        users.append(
            UserPlan(
                index=i,
                name=f"u{i + 1}",
                first_name=fake.first_name(),
                last_name=fake.last_name(),
                nickname=fake.user_name()[:22],
                teams=mine,
                channels=joined,
                favorites=[c for c in joined if rng.random() < p.FAVORITE_CHANCE],
                display=[(name, rng.choice(DISPLAY_VALUES[name])) for name in DISPLAY_SETTINGS],
            )
        )
    members: dict[int, list[int]] = {c.index: [] for c in channels}
    for user in users:
        for channel in user.channels:
            members[channel].append(user.index)

    pairs: set[tuple[int, int]] = set()
    tries = 0
    while len(pairs) < profile.direct_channels and tries < 20 * profile.direct_channels + 100:
        tries += 1
        a, b = rng.sample(range(profile.users), 2)
        if (b, a) not in pairs:
            pairs.add((a, b))
    for a, b in sorted(pairs, key=lambda pair: (pair[0], pair[1])):
        index = len(channels)
        channels.append(ChannelPlan(index, -1, f"d{index + 1}", "", "D", members=(a, b)))
        members[index] = [a, b]
    groups: set[tuple[int, ...]] = set()
    seen: set[tuple[int, ...]] = set()
    tries = 0
    while len(groups) < profile.group_channels and tries < 20 * profile.group_channels + 100:
        tries += 1
        size = rng.randint(*p.GROUP_SIZE)
        if size > profile.users:
            break
        chosen = tuple(rng.sample(range(profile.users), size))
        if tuple(sorted(chosen)) not in seen:
            seen.add(tuple(sorted(chosen)))
            groups.add(chosen)
    for chosen in sorted(groups):
        index = len(channels)
        channels.append(ChannelPlan(index, -1, f"g{index + 1}", "", "G", members=chosen))
        members[index] = list(chosen)
    return Plan(profile, seed, teams, channels, users, members)


def _geometric(rng: random.Random, stop: float) -> int:
    n = 1
    while rng.random() >= stop:
        n += 1
    return n


def _post_batches(plan: Plan) -> Iterator[list[PostPlan]]:
    rng = random.Random(plan.seed * 7919 + 1)
    fake = Faker()
    fake.seed_instance(plan.seed + 1)
    usernames = [u.name for u in plan.users]
    team_channels = [c.index for c in plan.team_channels if plan.members[c.index]]
    direct = [c.index for c in plan.direct_channels]
    if not team_channels and not direct:
        return
    pending: list[tuple[int, int]] = []  # (root index, channel) of replies due from the next batch on
    due: list[tuple[int, int]] = []
    batch: list[PostPlan] = []
    for index in range(plan.profile.posts):
        if index % plan.batch == 0:
            due.extend(pending)
            pending.clear()
            rng.shuffle(due)
        root: int | None = None
        if due:
            root, channel = due.pop()
        elif direct and (not team_channels or rng.random() < p.DIRECT_POST_SHARE):
            channel = rng.choice(direct)
        else:
            channel = rng.choice(team_channels)
        people = plan.members[channel]
        author = rng.choice(people)
        message = _message(rng, fake, usernames)
        reactions: dict[tuple[int, str], None] = {}
        if rng.random() < p.REACTION_CHANCE:
            for _ in range(_geometric(rng, p.REACTION_STOP)):
                reactions[(rng.choice(people), rng.choice(EMOJIS))] = None
        flagged = rng.choice(people) if rng.random() < p.FLAG_CHANCE else None
        has_file = rng.random() < p.FILE_CHANCE
        if root is None and rng.random() < p.THREAD_CHANCE:
            pending.extend([(index, channel)] * _geometric(rng, p.THREAD_STOP))
        batch.append(PostPlan(index, channel, author, message, root, has_file, tuple(reactions), flagged))
        if len(batch) == plan.batch:
            yield batch
            batch = []
    if batch:
        yield batch


def _message(rng: random.Random, fake: Faker, usernames: list[str]) -> str:
    """sampledata's mix, roughly: mostly sentences, some paragraphs, mentions and hashtags."""
    roll = rng.random()
    if roll < 0.65:
        return fake.sentence(nb_words=rng.randint(4, 14))
    if roll < 0.85:
        return fake.paragraph(nb_sentences=rng.randint(2, 5))
    if roll < 0.95:
        return f"@{{prefix}}{rng.choice(usernames)} {fake.sentence()}"
    return f"{fake.sentence()} #{fake.word()}"


def image(index: int) -> bytes:
    """A small PNG (16x16, one colour from the post index), made without any imaging library."""
    colour = bytes(((index * 97) % 256, (index * 57) % 256, (index * 31) % 256))
    rows = b"".join(b"\x00" + colour * 16 for _ in range(16))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (16).to_bytes(4, "big") * 2 + bytes((8, 2, 0, 0, 0))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )

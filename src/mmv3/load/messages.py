"""Chat messages of realistic lengths for posting under load (Faker text, seeded).

Most chat messages are a short sentence; some are a few sentences; a few are paragraphs. The
mix below (70 / 25 / 5 %) is what the Poster and Mixed scenarios post.
"""

from __future__ import annotations

import random

from faker import Faker

# Posts may hold 16383 runes (Mattermost 4.9's v2 post schema); long messages stay far below.
MAX_MESSAGE = 4000


def realistic_messages(count: int = 500, *, seed: int = 4049) -> list[str]:
    """`count` messages: 70 % one sentence, 25 % two to four, 5 % one to three paragraphs
    (a few hundred to a couple of thousand characters)."""
    fake = Faker()
    fake.seed_instance(seed)
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.70:
            text = fake.sentence(nb_words=rng.randint(3, 14))
        elif roll < 0.95:
            text = " ".join(fake.sentences(nb=rng.randint(2, 4)))
        else:
            count = rng.randint(1, 3)
            text = "\n\n".join(fake.paragraph(nb_sentences=rng.randint(5, 10)) for _ in range(count))
        out.append(text[:MAX_MESSAGE])
    return out

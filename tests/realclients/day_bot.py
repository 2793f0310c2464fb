"""A bot's day with PyPI `mattermost-bot` 1.0.20 (a 2017 bot framework on API v3), nobody here wrote it.

    MMV3_BOT_PASSWORD=... MMV3_OTHER_PASSWORD=... python day_bot.py BASE_URL BOT_LOGIN OTHER_LOGIN

BOT is a system admin, OTHER a regular user. The framework is imported from MMV3_CLIENTS_DIR/python
(default .mmv3/clients/python), installed there, away from the project's environment (it ships a
top-level `docs` package), with

    pip install --no-deps --target .mmv3/clients/python mattermost-bot==1.0.20 six==1.17.0

Its wrapper (`MattermostClient`, `MattermostAPI`) does the work; routes it has no method for but
a bot reaches through its generic `api.get`/`api.post` (reactions, commands, preferences) go
through those, and what it cannot do at all (file uploads) is skipped. The websocket part runs the
framework's own dispatcher with a `respond_to` plugin: OTHER mentions the bot, the bot answers.
Prints one JSON line per step on stdout: {step, ok, status, summary}, with no ids, tokens, names or
times, so that runs against two servers compare line by line. Exits 0 once the day is through, 1 when
the server cannot be reached or answers what is not JSON, 2 on bad usage.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

DEADLINE = 10.0
ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    if (
        len(sys.argv) != 4
        or not os.environ.get("MMV3_BOT_PASSWORD")
        or not os.environ.get("MMV3_OTHER_PASSWORD")
    ):
        print(
            "usage: MMV3_BOT_PASSWORD=.. MMV3_OTHER_PASSWORD=.. day_bot.py BASE_URL BOT_LOGIN OTHER_LOGIN",
            file=sys.stderr,
        )
        return 2
    base, bot_login, other_login = sys.argv[1:]
    clients = Path(os.environ.get("MMV3_CLIENTS_DIR", ROOT / ".mmv3" / "clients"))
    sys.path.insert(0, str(clients / "python"))
    import requests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bot.py imports the deprecated `imp`
        try:
            Day(base, bot_login, other_login).run()
        except requests.RequestException as exc:
            print(f"day_bot: cannot reach {base}: {type(exc).__name__}", file=sys.stderr)
            return 1
        except ValueError:
            print(f"day_bot: {base} answered something that is not JSON", file=sys.stderr)
            return 1
    return 0


def keys(value: object) -> list[str]:
    return sorted(value) if isinstance(value, dict) else []


def failed(body: object) -> bool:
    """The wrapper returns only the decoded body; an error body is how a failure shows."""
    return isinstance(body, dict) and "status_code" in body and "id" in body and "message" in body


class Day:
    def __init__(self, base: str, bot_login: str, other_login: str) -> None:
        self.base = base.rstrip("/")
        self.api_url = self.base + "/api/v3"
        self.bot_login, self.other_login = bot_login, other_login
        self.uniq = uuid.uuid4().hex[:10]

    # -- the transcript --
    def anonymise(self, text: str) -> str:
        return text.replace(self.bot_login, "BOT").replace(self.other_login, "OTHER")

    def record(self, step: str, ok: bool, status: int | None, summary: dict) -> bool:
        print(json.dumps({"step": step, "ok": ok, "status": status, "summary": summary}), flush=True)
        return ok

    def body(self, step: str, body: object, summary: dict) -> bool:
        if failed(body):
            return self.record(step, False, body["status_code"], {"error": body["id"]})
        return self.record(step, True, 200, summary)

    def skip(self, step: str, reason: str) -> None:
        self.record(step, None, None, {"skipped": reason})

    # -- the day --
    def run(self) -> None:
        import requests
        from mattermost_bot import settings
        from mattermost_bot.mattermost import MattermostClient

        # The framework logs in and picks the first of the bot's teams from initial_load, so the bot
        # needs a team before it starts. It gets a fresh one, made with plain requests (the
        # framework's own transport): a setup step, the same on every server.
        login = requests.post(
            self.api_url + "/users/login",
            json={"login_id": self.bot_login, "password": os.environ["MMV3_BOT_PASSWORD"]},
            timeout=DEADLINE,
        )
        if not self.record("setup.login", login.ok, login.status_code, {}):
            return
        auth = {"Authorization": "Bearer " + login.headers["Token"]}
        team = requests.post(
            self.api_url + "/teams/create",
            json={"name": "botday-" + self.uniq, "display_name": "Bot day", "type": "O"},
            headers=auth,
            timeout=DEADLINE,
        )
        if not self.record("setup.team", team.ok, team.status_code, {"type": team.json().get("type")}):
            return
        team_id = team.json()["id"]
        settings.BOT_URL = self.api_url
        settings.WORKERS_NUM = 2
        other = MattermostClient(
            self.api_url, "botday-" + self.uniq, self.other_login, os.environ["MMV3_OTHER_PASSWORD"], login=0
        )
        # the other user is not in any team yet on a fresh server: log in by hand up to the token
        other_user = self._login_without_initial_load(
            other, self.other_login, os.environ["MMV3_OTHER_PASSWORD"]
        )
        if other_user is None:
            return
        added = requests.post(
            f"{self.api_url}/teams/{team_id}/add_user_to_team",
            json={"user_id": other_user["id"]},
            headers=auth,
            timeout=DEADLINE,
        )
        if not self.record("setup.add_other", added.ok, added.status_code, {}):
            return

        try:
            bot = MattermostClient(
                self.api_url, "botday-" + self.uniq, self.bot_login, os.environ["MMV3_BOT_PASSWORD"]
            )
        except Exception as exc:  # noqa: BLE001 - the transcript says what the framework met
            self.record("login", False, None, {"error": type(exc).__name__})
            return
        self.record(
            "login",
            bool(bot.api.token),
            200,
            {
                "token_header": bool(bot.api.token),
                "initial_load": keys(bot.api.initial),
                "roles": bot.user.get("roles"),
            },
        )
        bot.api.team_id = team_id  # the framework took the first team; the day is in the new one
        other.api.load_initial_data()
        other.api.team_id = team_id
        self.body(
            "me",
            bot.info,
            {"roles": bot.info.get("roles"), "same_user": bot.info.get("id") == bot.user["id"]},
        )
        self.body("other.initial_load", other.api.initial, {"fields": keys(other.api.initial)})
        self.day(bot, other, other_user)

    def _login_without_initial_load(self, client, login: str, password: str) -> dict | None:
        import requests

        answer = requests.post(
            client.api.url + "/users/login",
            data=json.dumps({"name": "", "login_id": login, "password": password}),
            timeout=DEADLINE,
        )
        if not self.record("other.login", answer.status_code == 200, answer.status_code, {}):
            return None
        client.api.token = answer.headers["Token"]
        client.user = answer.json()
        return client.user

    def day(self, bot, other, other_user: dict) -> None:
        api, tid = bot.api, bot.api.team_id
        channel = api.post(
            f"/teams/{tid}/channels/create",
            {"team_id": tid, "name": "day-" + self.uniq, "display_name": "Day", "type": "O"},
        )
        if not self.body("channel.create", channel, {"type": channel.get("type"), "fields": keys(channel)}):
            return
        cid = channel["id"]
        bot.channels["day"] = channel
        channels = api.get_channels()
        self.body("channels.mine", channels, {"count": len(channels) if isinstance(channels, list) else None})
        member = api.post(f"/teams/{tid}/channels/{cid}/add", {"user_id": other_user["id"]})
        self.body("channel.add_member", member, {"fields": keys(member)})
        info = api.channel(cid)
        self.body("channel.get", info, {"fields": keys(info), "type": info.get("channel", {}).get("type")})
        profiles = bot.get_users()
        self.body("team.profiles", profiles, {"count": len(profiles)})

        post = bot.channel_msg("day", "good morning")
        self.body(
            "post.create",
            post,
            {"message": post.get("message"), "type": post.get("type"), "fields": keys(post)},
        )
        edited = bot.update_msg(post.get("id", ""), "day", "good morning, edited")
        self.body("post.update", edited, {"message": edited.get("message")})
        reply = bot.channel_msg("day", "a comment", pid=post.get("id", ""))
        self.body("post.reply", reply, {"root": reply.get("root_id") == post.get("id")})
        self.skip("file.upload", "mattermost-bot 1.0.20 has no file upload")

        reaction = api.post(
            f"/teams/{tid}/channels/{cid}/posts/{post.get('id')}/reactions/save",
            {"user_id": bot.user["id"], "post_id": post.get("id"), "emoji_name": "sunny"},
        )
        self.body(
            "post.react", reaction, {"fields": keys(reaction), "emoji_name": reaction.get("emoji_name")}
        )
        reactions = api.get(f"/teams/{tid}/channels/{cid}/posts/{post.get('id')}/reactions")
        self.body("post.reactions", reactions, {"emoji": [r.get("emoji_name") for r in reactions]})

        hook = api.hooks_create(channel_id=cid, display_name="day hook", description="posts of the day")
        self.body("hook.incoming.create", hook, {"fields": keys(hook)})
        hooks = api.hooks_list()
        self.body("hook.incoming.list", hooks, {"count": len(hooks) if isinstance(hooks, list) else None})
        sent = api.in_webhook(
            f"{self.base}/hooks/{hook.get('id')}", channel["name"], "from the hook", username="day"
        )
        self.record("hook.incoming.post", sent.status_code == 200, sent.status_code, {"body": sent.text})

        command = api.post(f"/teams/{tid}/commands/execute", {"channel_id": cid, "command": "/shrug the day"})
        self.body(
            "command.execute",
            command,
            {"response_type": command.get("response_type"), "fields": keys(command)},
        )

        pref = [
            {
                "user_id": bot.user["id"],
                "category": "display_settings",
                "name": "use_military_time",
                "value": "true",
            }
        ]
        saved = api.post("/preferences/save", pref)
        self.body("preferences.save", saved, {"body": saved})
        category = api.get("/preferences/display_settings")
        self.body(
            "preferences.category", category, {"values": [p["name"] + "=" + p["value"] for p in category]}
        )

        self.websocket(bot, other, cid)
        page = other.api.get(f"/teams/{tid}/channels/{cid}/posts/page/0/30")
        messages = [self.anonymise(page["posts"][i]["message"]) for i in page.get("order", [])]
        self.body("posts.page", page, {"messages": messages})

    def websocket(self, bot, other, cid: str) -> None:
        """The framework's dispatcher with one plugin: OTHER says `@bot ping`, the bot answers."""
        from mattermost_bot.bot import PluginsManager, respond_to
        from mattermost_bot.dispatcher import MessageDispatcher

        @respond_to("^ping$")
        def ping(message):  # noqa: ANN001
            message.reply("pong")

        @respond_to("^hook$")
        def hook(message):  # noqa: ANN001
            message.reply_webapi("hook pong")

        dispatcher = MessageDispatcher(bot, PluginsManager())
        dispatcher.start()
        events: list[dict] = []

        def loop() -> None:  # dispatcher.loop(), keeping every event for the transcript
            for event in bot.messages(True):
                events.append(event)
                if event.get("event") == "posted":
                    dispatcher.event = event
                    dispatcher.load_json()
                    dispatcher._on_new_message(event)

        threading.Thread(target=loop, daemon=True).start()
        hello = self.wait(lambda: next((e for e in events if e.get("event") == "hello"), None))
        self.record("websocket.hello", hello is not None, None, {"data": keys(hello and hello.get("data"))})

        sent = other.channel_msg(cid, "@{} ping".format(bot.user["username"]))
        self.body("other.mention", sent, {"message": self.anonymise(sent.get("message", ""))})
        posted = self.wait(lambda: next((e for e in events if e.get("event") == "posted"), None))
        data = posted.get("data", {}) if posted else {}
        self.record(
            "websocket.posted",
            posted is not None,
            None,
            {"data": keys(data), "mentions_bot": bot.user["id"] in (data.get("mentions") or [])},
        )
        pong = self.wait(lambda: self.find(other, cid, "@{}: pong".format(other.user["username"])))
        self.record("bot.reply", pong is not None, None, {"message": pong and self.anonymise(pong)})

        other.channel_msg(cid, "@{} hook".format(bot.user["username"]))
        via_hook = self.wait(lambda: self.find(other, cid, "@{}: hook pong".format(other.user["username"])))
        self.record(
            "bot.reply_webapi", via_hook is not None, None, {"message": via_hook and self.anonymise(via_hook)}
        )
        seen = sorted({e.get("event") for e in events})
        self.record("websocket.events", True, None, {"events": seen})

    @staticmethod
    def find(client, cid: str, message: str) -> str | None:
        page = client.api.get(f"/teams/{client.api.team_id}/channels/{cid}/posts/page/0/10")
        found = [page["posts"][i]["message"] for i in page.get("order", [])]
        return message if message in found else None

    @staticmethod
    def wait(probe):  # noqa: ANN001, ANN205
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            found = probe()
            if found is not None:
                return found
            time.sleep(0.1)
        return None


if __name__ == "__main__":
    sys.exit(main())

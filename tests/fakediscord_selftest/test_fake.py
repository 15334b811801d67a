"""Selftest for the fake Discord: a tiny real discord.py bot driven through it."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from discord.http import Route
from discord.webhook.async_ import async_context, interaction_response_params

from tests.fakediscord import (
    CommandUnavailable,
    FakeDiscord,
    RejectedResponse,
    connect_bot,
    disconnect_bot,
    running_fake,
    validation,
)

GUILD = 1100
CHANNEL = 1200
ANNOUNCE = 1201
ALICE = 1300
BOB = 1301
MOD = 1302
TOPICS = ["attention", "transformers", "diffusion", "retrieval"]


class NoteModal(discord.ui.Modal, title="New note"):
    """Mixes the classic action-row text input with the label (type 18) layout."""

    note_title = discord.ui.TextInput(label="Title", custom_id="note_title", max_length=100)
    body = discord.ui.Label(
        text="Body",
        component=discord.ui.TextInput(custom_id="note_body", style=discord.TextStyle.paragraph, required=False),
    )
    topic = discord.ui.Label(
        text="Topic",
        component=discord.ui.Select(
            custom_id="note_topic", options=[discord.SelectOption(label=t, value=t) for t in TOPICS]
        ),
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        body = self.body.component.value  # type: ignore[attr-defined]
        topic = self.topic.component.values[0]  # type: ignore[attr-defined]
        await interaction.response.send_message(f"Noted {self.note_title.value} [{topic}]: {body}", ephemeral=True)


class BigModal(discord.ui.Modal, title="Too big"):
    text = discord.ui.TextInput(label="Text", custom_id="big", max_length=5000)


class VoteView(discord.ui.View):
    def __init__(self, topic: str) -> None:
        super().__init__(timeout=60)
        self.topic = topic
        self.votes = 0

    @discord.ui.button(label="Up", custom_id="vote:up", style=discord.ButtonStyle.success)
    async def up(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.votes += 1
        await interaction.response.edit_message(content=f"{self.topic}: {self.votes} votes", view=self)

    @discord.ui.select(
        custom_id="vote:rating", options=[discord.SelectOption(label=str(i), value=str(i)) for i in range(1, 6)]
    )
    async def rating(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"rated {select.values[0]}", ephemeral=True)


class TinyBot(commands.Bot):
    def __init__(self, fake: FakeDiscord) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(command_prefix="!", intents=intents)
        self.fake = fake
        self.log: list[tuple] = []
        self.seen_messages: list[str] = []
        self.threads_seen: list[str] = []
        self.announce_channel_id = ANNOUNCE
        self._build_commands()

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=discord.Object(GUILD))

    async def on_message(self, message: discord.Message) -> None:
        if message.author.id != self.user.id:
            self.seen_messages.append(message.content)
        await self.process_commands(message)

    async def on_thread_create(self, thread: discord.Thread) -> None:
        self.threads_seen.append(thread.name)

    def _build_commands(self) -> None:
        bot = self
        guild = discord.Object(GUILD)
        note = app_commands.Group(name="note", description="Reading notes")

        @note.command(name="add", description="Add a note")
        async def note_add(interaction: discord.Interaction, text: str, file: discord.Attachment | None = None) -> None:
            if file is None:
                await interaction.response.send_message(f"Saved {text}")
                return
            data = await file.read()
            await interaction.response.send_message(f"Saved {text} with {file.filename}: {data.decode()}")

        @note_add.autocomplete("text")
        async def note_add_text(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            if current == "many":
                return [app_commands.Choice(name=f"topic {i}", value=f"t{i}") for i in range(30)]
            return [app_commands.Choice(name=t, value=t) for t in TOPICS if t.startswith(current)]

        @note.command(name="new", description="Write a note in a form")
        async def note_new(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(NoteModal())

        self.tree.add_command(note, guild=guild)

        @self.tree.command(name="bigmodal", description="A modal over the limits", guild=guild)
        async def bigmodal(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.send_modal(BigModal())
            except discord.HTTPException as exc:
                bot.log.append(("bigmodal", exc.status, exc.code))
                await interaction.response.send_message("could not open the form", ephemeral=True)

        @self.tree.command(name="vote", description="Vote on a topic", guild=guild)
        async def vote(interaction: discord.Interaction, topic: str) -> None:
            await interaction.response.send_message(f"{topic}: 0 votes", view=VoteView(topic))

        @self.tree.command(name="digest", description="Weekly digest", guild=guild)
        async def digest(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(0.05)
            embeds = [discord.Embed(title=f"Paper {i}", description=f"Abstract {i}") for i in range(3)]
            embeds[0].add_field(name="Authors", value="Vaswani et al.")
            embeds[0].set_footer(text="arXiv")
            csv = discord.File(io.BytesIO(b"title,year\nattention,2017\n"), filename="digest.csv")
            await interaction.followup.send(embeds=embeds, file=csv)

        @self.tree.command(name="secret", description="Moderators only", guild=guild)
        async def secret(interaction: discord.Interaction) -> None:
            if not interaction.permissions.manage_guild:
                await interaction.response.send_message("You need Manage Server to do that.", ephemeral=True)
                return
            await interaction.response.send_message("the secret is 42", ephemeral=True)

        @self.tree.command(name="admin", description="Hidden from non-admins", guild=guild)
        @app_commands.default_permissions(manage_guild=True)
        async def admin(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("admin panel")

        @self.tree.command(name="whois", description="Describe a member", guild=guild)
        async def whois(interaction: discord.Interaction, member: discord.Member, where: discord.TextChannel) -> None:
            await interaction.response.send_message(f"{member.display_name} ({member.id}) in #{where.name}")

        @self.tree.command(name="flood", description="Too many embeds", guild=guild)
        async def flood(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            try:
                await interaction.followup.send(embeds=[discord.Embed(description="x" * 4096) for _ in range(2)])
            except discord.HTTPException as exc:
                bot.log.append(("flood-total", exc.status, exc.code))
            try:
                await interaction.followup.send(embeds=[discord.Embed(title=str(i)) for i in range(11)])
            except ValueError:
                bot.log.append(("flood-local", "ValueError"))
            route = Route("POST", "/channels/{channel_id}/messages", channel_id=interaction.channel_id)
            try:
                await bot.http.request(route, json={"embeds": [{"title": str(i)} for i in range(11)]})
            except discord.HTTPException as exc:
                bot.log.append(("flood-count", exc.status, exc.code))
            await interaction.followup.send("flood done")

        @self.tree.command(name="slow", description="Answers too late", guild=guild)
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(bot.fake.ack_deadline + 0.2)
            try:
                await interaction.response.send_message("finally")
            except discord.NotFound as exc:
                bot.log.append(("late", exc.code))

        @self.tree.command(name="twice", description="Answers twice", guild=guild)
        async def twice(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("first")
            try:
                await interaction.response.send_message("second")
            except discord.InteractionResponded:
                bot.log.append(("twice", "InteractionResponded"))
            params = interaction_response_params(4, {"content": "second"})
            try:
                await async_context.get().create_interaction_response(
                    interaction.id, interaction.token, session=interaction._session, params=params
                )
            except discord.HTTPException as exc:
                bot.log.append(("twice", exc.status, exc.code))

        @self.tree.command(name="discuss", description="Open a thread", guild=guild)
        async def discuss(interaction: discord.Interaction, topic: str) -> None:
            await interaction.response.send_message(f"Discussion: {topic}")
            message = await interaction.original_response()
            thread = await message.create_thread(name=topic)
            await thread.send(f"Kick-off for {topic}")

        @self.tree.command(name="announce", description="Post in the announcement channel", guild=guild)
        async def announce(interaction: discord.Interaction, text: str) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            try:
                await bot.get_partial_messageable(bot.announce_channel_id).send(text)
            except (discord.Forbidden, discord.NotFound) as exc:
                await interaction.followup.send(f"could not post: {exc.code}", ephemeral=True)
                return
            await interaction.followup.send("posted", ephemeral=True)

        @self.tree.command(name="mute", description="Never answers", guild=guild)
        async def mute(interaction: discord.Interaction) -> None:
            return None

        @self.tree.command(name="ghost", description="Defers and forgets", guild=guild)
        async def ghost(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)

        @self.command(name="ping")
        async def ping(ctx: commands.Context) -> None:
            await ctx.send("pong")


@pytest.fixture
async def fake():
    async with running_fake() as fake:
        fake.add_guild(GUILD, owner_id=MOD)
        fake.add_channel(GUILD, CHANNEL, name="papers")
        fake.add_channel(GUILD, ANNOUNCE, name="announcements")
        fake.add_member(GUILD, ALICE, name="alice")
        fake.add_member(GUILD, BOB, name="bob")
        fake.add_member(GUILD, MOD, name="mod", permissions=discord.Permissions(administrator=True).value)
        yield fake


@pytest.fixture
async def bot(fake: FakeDiscord):
    bot = TinyBot(fake)
    task = await connect_bot(bot, fake)
    yield bot
    await disconnect_bot(bot, task)
    assert fake.internal_errors == []


async def slash(fake: FakeDiscord, command: str, user_id: int = ALICE, **kwargs):
    inter = await fake.slash(command, guild_id=GUILD, channel_id=CHANNEL, user_id=user_id, **kwargs)
    await inter.wait_done()
    return inter


# --- connection and sync ---------------------------------------------------------------------


async def test_connects_syncs_and_restores_globals(fake: FakeDiscord):
    original_base = Route.BASE
    bot = TinyBot(fake)
    task = await connect_bot(bot, fake)
    try:
        assert Route.BASE == fake.api_base
        names = sorted(c["name"] for c in fake.commands[GUILD])
        assert names == sorted(
            [
                "note",
                "bigmodal",
                "vote",
                "digest",
                "secret",
                "admin",
                "whois",
                "flood",
                "slow",
                "twice",
                "discuss",
                "announce",
                "mute",
                "ghost",
            ]
        )
        note = next(c for c in fake.commands[GUILD] if c["name"] == "note")
        assert {o["name"] for o in note["options"]} == {"add", "new"}
        assert ("GET", "/users/@me") in fake.requests
        assert ("GET", "/oauth2/applications/@me") in fake.requests
        guild = bot.get_guild(GUILD)
        assert guild is not None and guild.get_channel(CHANNEL).name == "papers"
        assert guild.me is not None and guild.me.id == fake.bot_user_id
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        assert fake.unknown_requests == []
        assert fake.rejected == []
    finally:
        await disconnect_bot(bot, task)
    assert Route.BASE == original_base
    assert task.done()
    assert fake.internal_errors == []


async def test_intents_shape_what_the_bot_receives(fake: FakeDiscord):
    """Without message_content a bot sees empty content unless mentioned; with members it chunks the member list."""
    intents = discord.Intents.default()
    intents.members = True
    plain = commands.Bot(command_prefix="!", intents=intents)
    seen: list[str] = []

    async def record(message: discord.Message) -> None:
        if message.author.id != plain.user.id:
            seen.append(message.content)

    plain.add_listener(record, "on_message")
    task = await connect_bot(plain, fake)
    try:
        guild = plain.get_guild(GUILD)
        for _ in range(100):
            if guild.get_member(ALICE) is not None:
                break
            await asyncio.sleep(0.02)
        assert guild.get_member(ALICE).name == "alice"
        assert guild.get_member(MOD).guild_permissions.administrator
        assert not guild.get_member(BOB).guild_permissions.manage_guild
        assert fake.dispatched("GUILD_MEMBERS_CHUNK")
        await fake.post_message(CHANNEL, user_id=ALICE, content="secret words")
        await fake.post_message(CHANNEL, user_id=ALICE, content=f"<@{fake.bot_user_id}> hi")
        await fake.settle()
        for _ in range(50):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.02)
        assert seen == ["", f"<@{fake.bot_user_id}> hi"]
    finally:
        await disconnect_bot(plain, task)


async def test_a_deleted_role_leaves_the_guild_and_its_members(fake: FakeDiscord, bot: TinyBot):
    role = int(fake.guilds[GUILD].members[BOB]["roles"][0])
    guild = bot.get_guild(GUILD)
    assert guild.get_role(role) is not None
    fake.remove_role(GUILD, role)
    await fake.settle()
    for _ in range(50):
        if guild.get_role(role) is None:
            break
        await asyncio.sleep(0.02)
    assert guild.get_role(role) is None and fake.dispatched("GUILD_ROLE_DELETE")
    assert str(role) not in fake.guilds[GUILD].members[BOB]["roles"]
    with pytest.raises(ValueError):
        fake.remove_role(GUILD, role)


async def test_reconnect_resumes_session(fake: FakeDiscord, bot: TinyBot):
    session_id = bot.ws.session_id
    await fake.request_reconnect()
    assert fake.dispatched("RESUMED") == [{}]
    assert bot.ws.session_id == session_id
    inter = await slash(fake, "note add", options={"text": "after resume"})
    assert inter.original.content == "Saved after resume"


# --- slash commands, autocomplete, attachments ---------------------------------------------


async def test_autocomplete_returns_choices(fake: FakeDiscord, bot: TinyBot):
    choices = await fake.autocomplete(
        "note add", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, options={"text": "tra"}, focused="text"
    )
    assert choices == [{"name": "transformers", "value": "transformers"}]


async def test_autocomplete_over_25_choices_is_rejected(fake: FakeDiscord, bot: TinyBot):
    with pytest.raises(RejectedResponse):
        await fake.autocomplete(
            "note add", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, options={"text": "many"}, focused="text"
        )
    assert len(fake.rejected) == 1
    route, body = fake.rejected[0]
    assert route.startswith("POST /interactions/") and body["code"] == 50035
    assert "choices" in body["errors"]["data"]


async def test_slash_with_attachment_option(fake: FakeDiscord, bot: TinyBot):
    paper = fake.host_file("notes.txt", b"great paper")
    inter = await slash(fake, "note add", options={"text": "attention"}, attachments={"file": paper})
    assert inter.response_type == 4
    assert inter.original is not None
    assert inter.original.content == "Saved attention with notes.txt: great paper"
    assert not inter.ephemeral
    assert fake.channel_messages(CHANNEL) == [inter.original]
    sent = inter.payload["data"]
    assert sent["options"][0]["name"] == "add" and sent["options"][0]["type"] == 1
    assert {o["name"]: o["type"] for o in sent["options"][0]["options"]} == {"text": 3, "file": 11}
    assert paper["id"] in sent["resolved"]["attachments"]


async def test_user_and_channel_options_are_resolved(fake: FakeDiscord, bot: TinyBot):
    inter = await slash(fake, "whois", options={"member": BOB, "where": ANNOUNCE})
    assert inter.original.content == f"bob ({BOB}) in #announcements"


async def test_bad_command_paths_and_options_raise(fake: FakeDiscord, bot: TinyBot):
    with pytest.raises(AssertionError, match="no slash command /nope"):
        await fake.slash("nope", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE)
    with pytest.raises(AssertionError, match="no subcommand 'remove'"):
        await fake.slash("note remove", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE)
    with pytest.raises(AssertionError, match="has no option 'colour'"):
        await fake.slash("vote", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, options={"topic": "x", "colour": 1})
    with pytest.raises(AssertionError, match="requires option 'topic'"):
        await fake.slash("vote", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE)
    with pytest.raises(AssertionError, match="takes a string"):
        await fake.slash("vote", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE, options={"topic": 3})
    assert fake.interactions == []


async def test_default_member_permissions_are_enforced(fake: FakeDiscord, bot: TinyBot):
    with pytest.raises(CommandUnavailable):
        await fake.slash("admin", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE)
    inter = await slash(fake, "admin", user_id=MOD)
    assert inter.original.content == "admin panel"


# --- modals, buttons, selects ---------------------------------------------------------------


async def test_modal_roundtrip_with_both_layouts(fake: FakeDiscord, bot: TinyBot):
    opened = await slash(fake, "note new")
    assert opened.response_type == 9
    assert opened.modal["title"] == "New note"
    assert [c["type"] for c in opened.modal["components"]] == [1, 18, 18]
    with pytest.raises(AssertionError, match="no input"):
        await fake.submit_modal(opened, {"nonexistent": "x"})
    submitted = await fake.submit_modal(
        opened, {"note_title": "Attention", "note_body": "is all you need", "note_topic": ["transformers"]}
    )
    await submitted.wait_done()
    assert submitted.type == 5
    assert submitted.ephemeral
    assert submitted.error == "Noted Attention [transformers]: is all you need"
    assert fake.channel_messages(CHANNEL) == []


async def test_modal_over_limits_is_rejected(fake: FakeDiscord, bot: TinyBot):
    inter = await slash(fake, "bigmodal")
    assert bot.log == [("bigmodal", 400, 50035)]
    assert inter.error == "could not open the form"
    assert fake.rejected and "max_length" in str(fake.rejected[0][1]["errors"])


async def test_button_edits_message_and_select_answers(fake: FakeDiscord, bot: TinyBot):
    inter = await slash(fake, "vote", options={"topic": "diffusion"})
    message = inter.original
    assert [b["custom_id"] for b in message.buttons()] == ["vote:up"]
    assert message.selects()[0]["custom_id"] == "vote:rating"
    click = await fake.click(message, "vote:up", user_id=BOB)
    await click.wait_done()
    assert click.response_type == 7
    assert message.content == "diffusion: 1 votes"
    click2 = await fake.click(message, "vote:up", user_id=ALICE)
    await click2.wait_done()
    assert message.content == "diffusion: 2 votes"
    picked = await fake.select(message, "vote:rating", ["4"], user_id=ALICE)
    await picked.wait_done()
    assert picked.error == "rated 4"
    with pytest.raises(AssertionError, match="no button 'vote:down'"):
        await fake.click(message, "vote:down", user_id=ALICE)
    with pytest.raises(AssertionError, match="no option '9'"):
        await fake.select(message, "vote:rating", ["9"], user_id=ALICE)


# --- deferrals, followups, files, ephemeral errors ----------------------------------------


async def test_deferred_followup_with_embeds_and_file(fake: FakeDiscord, bot: TinyBot):
    inter = await slash(fake, "digest")
    assert inter.response_type == 5
    message = inter.original
    assert message is not None and not message.loading and not inter.ephemeral
    assert inter.followups == []  # the first followup after a thinking defer edits the loading message
    assert [e["title"] for e in message.embeds] == ["Paper 0", "Paper 1", "Paper 2"]
    assert "Vaswani et al." in message.text() and "arXiv" in message.text()
    csv = message.attachment("digest.csv")
    assert csv["data"] == b"title,year\nattention,2017\n"
    assert csv["content_type"] == "text/csv"
    assert fake.channel_messages(CHANNEL) == [message]


async def test_acknowledgement_and_answer_times(fake: FakeDiscord, bot: TinyBot):
    answered = await slash(fake, "secret")
    assert answered.acknowledged_at is not None and answered.answered_at == answered.acknowledged_at
    assert answered.created <= answered.acknowledged_at
    deferred = await slash(fake, "digest")  # defers, then answers 50 ms later
    assert deferred.acknowledged_at is not None and deferred.answered_at is not None
    assert deferred.answered_at - deferred.acknowledged_at >= 0.04
    ghost = await fake.slash("ghost", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE)
    await asyncio.wait_for(ghost._callback_event.wait(), 5)
    assert ghost.acknowledged_at is not None and ghost.answered_at is None  # a defer is not an answer


async def test_ephemeral_error(fake: FakeDiscord, bot: TinyBot):
    inter = await slash(fake, "secret")
    assert inter.ephemeral
    assert inter.error == "You need Manage Server to do that."
    assert fake.channel_messages(CHANNEL) == []
    allowed = await slash(fake, "secret", user_id=MOD)
    assert allowed.error == "the secret is 42"


async def test_invalid_embeds_are_rejected(fake: FakeDiscord, bot: TinyBot):
    inter = await slash(fake, "flood")
    assert bot.log == [("flood-total", 400, 50035), ("flood-local", "ValueError"), ("flood-count", 400, 50035)]
    assert len(fake.rejected) == 2
    assert fake.rejected[0][1]["errors"]["embeds"]["_errors"][0]["code"] == "MAX_EMBED_SIZE_EXCEEDED"
    assert fake.rejected[1][1]["errors"]["embeds"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    assert inter.original.content == "flood done"


async def test_late_response_gets_unknown_interaction(fake: FakeDiscord, bot: TinyBot):
    fake.ack_deadline = 0.4
    inter = await slash(fake, "slow")
    assert bot.log == [("late", 10062)]
    assert inter.response_type is None
    assert inter.messages == []
    assert inter.failures[0]["code"] == 10062


async def test_double_response_gets_already_acknowledged(fake: FakeDiscord, bot: TinyBot):
    inter = await slash(fake, "twice")
    assert bot.log == [("twice", "InteractionResponded"), ("twice", 400, 40060)]
    assert inter.original.content == "first"
    assert [f["code"] for f in inter.failures] == [40060]


async def test_wait_done_fails_when_the_bot_never_answers(fake: FakeDiscord, bot: TinyBot):
    inter = await fake.slash("mute", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE)
    with pytest.raises(AssertionError, match="never answered"):
        await inter.wait_done(timeout=0.5)
    ghost = await fake.slash("ghost", guild_id=GUILD, channel_id=CHANNEL, user_id=ALICE)
    with pytest.raises(AssertionError, match="deferred"):
        await ghost.wait_done(timeout=0.5)
    assert ghost.original is not None and ghost.original.loading


# --- channels, threads, member messages ---------------------------------------------------


async def test_thread_creation(fake: FakeDiscord, bot: TinyBot):
    inter = await slash(fake, "discuss", options={"topic": "scaling laws"})
    threads = fake.threads(GUILD)
    assert [t["name"] for t in threads] == ["scaling laws"]
    assert int(threads[0]["id"]) == inter.original.id  # a thread started from a message shares its id
    assert inter.original.thread is not None
    assert bot.threads_seen == ["scaling laws"]
    kickoff = fake.channel_messages(int(threads[0]["id"]))
    assert [m.content for m in kickoff] == ["Kick-off for scaling laws"]


async def test_threads_archived_locked_deleted(fake: FakeDiscord, bot: TinyBot):
    channel = bot.get_channel(CHANNEL)
    assert isinstance(channel, discord.TextChannel)
    thread = await channel.create_thread(name="attention", type=discord.ChannelType.public_thread)
    assert thread.parent_id == CHANNEL
    partial = bot.get_partial_messageable(thread.id, guild_id=GUILD, type=discord.ChannelType.public_thread)

    fake.archive_thread(thread.id)  # archived, not locked: a message opens it again, as on Discord
    await partial.send("still here")
    assert fake.threads(GUILD)[0]["thread_metadata"]["archived"] is False
    assert [m.content for m in fake.channel_messages(thread.id)] == ["still here"]
    assert "THREAD_UPDATE" in [name for name, _ in fake.events]

    fake.archive_thread(thread.id, locked=True)  # archived and locked: no message gets in
    with pytest.raises(discord.Forbidden) as locked:
        await partial.send("let me in")
    assert locked.value.code == 50083
    assert fake.threads(GUILD)[0]["thread_metadata"]["archived"] is True

    await thread.edit(archived=False, locked=False)  # the bot has Manage Threads: it may open it again
    await partial.send("open again")
    await thread.edit(archived=True)

    await thread.delete()
    assert fake.threads(GUILD) == []
    with pytest.raises(discord.NotFound) as gone:
        await partial.send("anyone?")
    assert gone.value.code == 10003


async def test_thread_edits_need_manage_threads_unless_own(fake: FakeDiscord, bot: TinyBot):
    channel = bot.get_channel(CHANNEL)
    assert isinstance(channel, discord.TextChannel)
    thread = await channel.create_thread(name="own", type=discord.ChannelType.public_thread)
    fake.bot_permissions &= ~discord.Permissions(manage_threads=True).value
    await thread.edit(archived=True)  # its creator may archive it
    with pytest.raises(discord.Forbidden):
        await thread.edit(locked=True)
    with pytest.raises(discord.Forbidden):
        await thread.delete()
    assert len(fake.threads(GUILD)) == 1
    fake.bot_permissions &= ~discord.Permissions(create_public_threads=True).value
    with pytest.raises(discord.Forbidden):  # opening a public thread takes Create Public Threads
        await channel.create_thread(name="another", type=discord.ChannelType.public_thread)
    message = await channel.send("start here")
    with pytest.raises(discord.Forbidden):
        await message.create_thread(name="from a message")
    assert len(fake.threads(GUILD)) == 1


async def test_held_requests_go_on_together(fake: FakeDiscord, bot: TinyBot):
    papers, announce = bot.get_channel(CHANNEL), bot.get_channel(ANNOUNCE)
    assert isinstance(papers, discord.TextChannel) and isinstance(announce, discord.TextChannel)
    # Two channels: discord.py sends one request at a time per channel until Discord tells it its rate limits.
    fake.hold_requests("POST", r"/channels/\d+/messages", parties=2)
    first = asyncio.create_task(papers.send("one"))
    await asyncio.sleep(0.2)
    assert not first.done()  # held until a second one arrives
    assert fake.channel_messages(CHANNEL) == []
    await asyncio.gather(first, announce.send("two"))
    assert [m.content for m in fake.channel_messages(CHANNEL) + fake.channel_messages(ANNOUNCE)] == ["one", "two"]
    await papers.send("three")  # the gate is gone


async def test_forbidden_and_removed_channels(fake: FakeDiscord, bot: TinyBot):
    ok = await slash(fake, "announce", options={"text": "meeting at 5"})
    assert ok.error == "posted"
    assert [m.content for m in fake.channel_messages(ANNOUNCE)] == ["meeting at 5"]
    fake.forbid_channel(ANNOUNCE)
    forbidden = await slash(fake, "announce", options={"text": "again"})
    assert forbidden.error == "could not post: 50013"
    fake.remove_channel(ANNOUNCE)
    removed = await slash(fake, "announce", options={"text": "and again"})
    assert removed.error == "could not post: 10003"
    assert len(fake.channel_messages(ANNOUNCE)) == 1


async def test_member_message_and_prefix_command(fake: FakeDiscord, bot: TinyBot):
    hello = await fake.post_message(CHANNEL, user_id=ALICE, content="hello club")
    ping = await fake.post_message(CHANNEL, user_id=BOB, content="!ping")
    reply = await fake.wait_for_message(CHANNEL, after=ping)
    assert reply.content == "pong"
    assert bot.seen_messages == ["hello club", "!ping"]
    assert fake.channel_messages(CHANNEL) == [hello, ping, reply]
    dm_ping = await fake.post_message(fake.open_dm(ALICE), user_id=ALICE, content="!ping")
    dm_reply = await fake.wait_for_message(dm_ping.channel_id, after=dm_ping)
    assert fake.dm_messages(ALICE) == [dm_ping, dm_reply]
    assert dm_reply.content == "pong" and dm_reply.guild_id is None


# --- raw REST behaviour --------------------------------------------------------------------


async def _post(fake: FakeDiscord, path: str, payload: dict, *, token: str | None = None):
    headers = {"Authorization": f"Bot {token or fake.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(fake.api_base + path, json=payload, headers=headers) as resp:
            assert resp.headers["Content-Type"] == "application/json"
            return resp.status, await resp.json()


def _rows(n_rows: int, n_buttons: int) -> list[dict]:
    return [
        {
            "type": 1,
            "components": [{"type": 2, "style": 1, "label": "b", "custom_id": f"r{r}b{b}"} for b in range(n_buttons)],
        }
        for r in range(n_rows)
    ]


INVALID_MESSAGES = {
    "content>2000": {"content": "x" * 2001},
    "embeds>10": {"embeds": [{"title": "t"}] * 11},
    "title>256": {"embeds": [{"title": "t" * 257}]},
    "description>4096": {"embeds": [{"description": "d" * 4097}]},
    "fields>25": {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
    "field name>256": {"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]},
    "field value>1024": {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
    "footer>2048": {"embeds": [{"footer": {"text": "f" * 2049}}]},
    "author>256": {"embeds": [{"author": {"name": "a" * 257}}]},
    "embed total>6000": {"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]},
    "rows>5": {"content": "x", "components": _rows(6, 1)},
    "buttons>5": {"content": "x", "components": _rows(1, 6)},
    "select options>25": {
        "content": "x",
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 3, "custom_id": "s", "options": [{"label": str(i), "value": str(i)} for i in range(26)]}
                ],
            }
        ],
    },
    "custom_id>100": {
        "content": "x",
        "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": "c" * 101}]}],
    },
}


@pytest.mark.parametrize("case", sorted(INVALID_MESSAGES))
async def test_message_limits_are_enforced(case: str):
    async with running_fake() as fake:
        fake.add_guild(GUILD)
        fake.add_channel(GUILD, CHANNEL)
        status, body = await _post(fake, f"/channels/{CHANNEL}/messages", INVALID_MESSAGES[case])
        assert (status, body["code"], body["message"]) == (400, 50035, "Invalid Form Body")
        assert body["errors"]
        assert len(fake.rejected) == 1
        assert fake.channel_messages(CHANNEL) == []
        status, body = await _post(fake, f"/channels/{CHANNEL}/messages", {"content": "fine"})
        assert status == 200 and body["content"] == "fine"


async def test_empty_message_auth_and_unknown_routes():
    async with running_fake() as fake:
        fake.add_guild(GUILD)
        fake.add_channel(GUILD, CHANNEL)
        status, body = await _post(fake, f"/channels/{CHANNEL}/messages", {"content": "  "})
        assert (status, body["code"]) == (400, 50006)
        status, body = await _post(fake, f"/channels/{CHANNEL}/messages", {"content": "hi"}, token="wrong")
        assert status == 401
        status, body = await _post(fake, "/guilds/1/bans/2", {})
        assert status == 404
        assert fake.unknown_requests == [("POST", "/guilds/1/bans/2")]
        status, body = await _post(fake, "/channels/999/messages", {"content": "hi"})
        assert (status, body["code"]) == (404, 10003)


def test_modal_limits():
    def text_input(**extra) -> dict:
        return {"type": 1, "components": [{"type": 4, "custom_id": "a", "style": 1, "label": "A", **extra}]}

    assert validation.check_modal({"custom_id": "m", "title": "T", "components": [text_input()]}) == []
    too_many = {"custom_id": "m", "title": "T", "components": [text_input()] * 6}
    assert any(p[1] == "BASE_TYPE_BAD_LENGTH" for p in validation.check_modal(too_many))
    for bad in ({"max_length": 4001}, {"value": "v" * 4001}, {"label": "L" * 46}):
        problems = validation.check_modal({"custom_id": "m", "title": "T", "components": [text_input(**bad)]})
        assert problems, bad
    label = {"type": 18, "label": "L" * 46, "component": {"type": 4, "custom_id": "a", "style": 1}}
    assert validation.check_modal({"custom_id": "m", "title": "T", "components": [label]})

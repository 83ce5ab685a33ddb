"""The pages through Streamlit's AppTest, talking to the local fake of the route."""

from __future__ import annotations

import base64
import io
import os
import time

import pytest
from sqlalchemy import create_engine, text
from streamlit.testing.v1 import AppTest

from core.service import StudioService
from core.values import TurnStatus
from tests.conftest import API_KEY, ROOT
from tests.fake_gemini import google_error, image_bytes


@pytest.fixture
def app_env(monkeypatch, settings, fake):
    monkeypatch.setenv("COMETAPI_KEY", API_KEY)
    monkeypatch.setenv("COMETAPI_BASE_URL", settings.base_url)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STUDIO_MAX_RETRIES", "0")
    return settings


APP = ROOT / "app.py"


def studio(**query) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def settle(at: AppTest, timeout: float = 30) -> AppTest:
    """The runner works in the background: wait until no turn is queued or running, then rerun
    as the page's watcher would."""
    engine = create_engine(os.environ["DATABASE_URL"])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                busy = conn.execute(text("SELECT count(*) FROM turns WHERE status IN ('queued', 'running')")).scalar()
            if not busy:
                break
            time.sleep(0.05)
    finally:
        engine.dispose()
    return at.run()


def sidebar_widget(widgets, label: str):  # type: ignore[no-untyped-def]
    return next(w for w in widgets if w.label == label)


def all_text(at: AppTest) -> str:
    parts = (
        [e.value for e in at.markdown]
        + [e.value for e in at.text]
        + [e.value for e in at.caption]
        + [e.value for e in at.error]
    )
    parts += [e.value for e in at.warning] + [e.value for e in at.info] + [e.value for e in at.title]
    return "\n".join(str(p) for p in parts)


def test_studio_sends_a_turn_with_an_attached_image_and_shows_the_result(app_env, fake):
    at = studio()
    assert not at.exception
    assert "Offline demo model" not in all_text(at)
    at.chat_input[0].upload("photo.jpg", image_bytes((32, 24), fmt="JPEG"), "image/jpeg")
    settle(at.chat_input[0].set_value("a red bicycle on a beach").run())
    assert not at.exception
    session = at.query_params["session"]
    session = session[0] if isinstance(session, list) else session
    assert session
    sent = fake.requests[-1]["contents"][0]["parts"]
    assert sent[0] == {"text": "a red bicycle on a beach"}
    assert sent[1]["inlineData"]["mimeType"] == "image/jpeg"
    at.run()
    text = all_text(at)
    assert "Result 1" in text and "a red bicycle on a beach" in text
    assert len(at.get("image")) >= 2  # the user's photo and the result
    assert any(b.label == "Download" for b in at.get("download_button"))
    thinking = next(e for e in at.expander if e.label == "Thinking")
    assert any("Thinking about turn 1" in m.value for m in thinking.markdown)
    assert len(thinking.get("image")) == 1  # the interim draft image
    assert any("1,300 tokens" in c.value and "1:1" in c.value for c in at.caption)


def test_errors_render_as_messages_in_the_chat_with_the_words_kept(app_env, fake):
    fake.then(google_error(400, "INVALID_ARGUMENT", "Image part is missing a thought_signature in content position 2."))
    at = studio()
    settle(at.chat_input[0].set_value("<b>bold</b> **stars** and an emoji 🍌").run())
    at.run()
    assert not at.exception
    assert any("missing a thought\\_signature" in e.value for e in at.error)
    assert any(b.label == "Retry" for b in at.button)
    assert any(t.value == "<b>bold</b> **stars** and an emoji 🍌" for t in at.text)  # as typed, not parsed
    settle(next(b for b in at.button if b.label == "Retry").click().run())
    assert not at.exception
    assert "Result 1" in all_text(at)


def test_session_in_the_url_opens_a_stored_conversation(app_env, fake, settings):
    svc = StudioService.from_settings(settings)
    conversation = svc.new_conversation()
    svc.send(conversation.id, "a lighthouse at dusk")
    at = studio(session=conversation.id)
    assert not at.exception
    assert at.title[0].value == "a lighthouse at dusk"
    assert "Result 1" in all_text(at)


def test_unknown_session_shows_not_found(app_env):
    at = studio(session="does-not-exist")
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)
    crafted = studio(session="x`[click](http://evil.example)`")
    message = next(e.value for e in crafted.error if "does not exist" in e.value)
    assert "evil" not in message  # the crafted id is not echoed at all


def test_no_key_runs_on_the_offline_model_and_says_so(monkeypatch, db_url):
    monkeypatch.delenv("COMETAPI_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    at = studio()
    assert "Offline demo model" in all_text(at)
    settle(at.chat_input[0].set_value("a red bicycle").run())
    at.run()
    assert not at.exception
    assert "drawn offline" in all_text(at)


def test_conversations_page_lists_renames_and_deletes(app_env, settings, fake):
    svc = StudioService.from_settings(settings)
    keep = svc.new_conversation()
    svc.send(keep.id, "keep me")
    gone = svc.new_conversation()
    svc.send(gone.id, "delete me")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/conversations.py").run()
    assert not at.exception
    links = [link.label for link in at.get("page_link")]
    assert links.index("delete me") < links.index("keep me")  # newest activity first
    at.button(key=f"delete-{gone.id}").click().run()
    assert any("Move this conversation to the trash" in w.value for w in at.warning)
    at.button(key=f"yes-{gone.id}").click().run()
    assert [s.id for s in svc.conversations()] == [keep.id]
    assert [s.id for s in svc.store.conversations(deleted=True)] == [gone.id]  # in the trash, not lost
    at.button(key=f"restore-{gone.id}").click().run()
    assert sorted(s.id for s in svc.conversations()) == sorted([keep.id, gone.id])
    at.text_input(key=f"title-{keep.id}").set_value("Renamed")
    at.button(key=f"save-{keep.id}").click().run()
    assert svc.conversation(keep.id).title == "Renamed"


def test_settings_are_limited_to_the_model_and_saved(app_env, settings, fake):
    svc = StudioService.from_settings(settings)
    conversation = svc.new_conversation("gemini-3-pro-image")
    at = studio(session=conversation.id)
    ratio = sidebar_widget(at.selectbox, "Aspect ratio")
    assert "1:8" not in ratio.options and "16:9" in ratio.options
    ratio.set_value("16:9").run()
    assert svc.conversation(conversation.id).settings.aspect_ratio == "16:9"
    settle(at.chat_input[0].set_value("wide").run())
    assert fake.requests[-1]["generationConfig"]["imageConfig"]["aspectRatio"] == "16:9"
    assert "thinkingConfig" not in fake.requests[-1]["generationConfig"]
    turns = svc.conversation(conversation.id).turns
    assert turns[0].status == TurnStatus.OK


def test_one_tab_never_reverts_another_tabs_settings(app_env, settings, fake):
    svc = StudioService.from_settings(settings)
    conversation = svc.new_conversation()
    tab_a, tab_b = studio(session=conversation.id), studio(session=conversation.id)
    sidebar_widget(tab_a.selectbox, "Aspect ratio").set_value("16:9").run()
    sidebar_widget(tab_b.toggle, "Image only (no text)").set_value(True).run()  # B still shows 1:1
    tab_b.run()
    stored = svc.conversation(conversation.id).settings
    assert stored.aspect_ratio == "16:9" and stored.image_only  # each wrote only its own change


def test_a_bad_attachment_keeps_the_words_and_good_images_as_a_failed_turn(app_env, fake, settings):
    at = studio()
    at.chat_input[0].upload("notes.png", b"%PDF-1.7 this is a pdf", "image/png")
    at.chat_input[0].upload("good.png", image_bytes((16, 16)), "image/png")
    settle(at.chat_input[0].set_value("combine these").run())
    at.run()
    assert not at.exception
    assert fake.requests == []  # nothing half-right is sent
    assert any("notes\\.png is not a PNG" in e.value for e in at.error)
    svc = StudioService.from_settings(settings)
    turn = svc.conversation(svc.conversations()[0].id).turns[0]
    assert turn.status == TurnStatus.FAILED and turn.parts[0].text == "combine these"
    assert [p.kind for p in turn.parts] == ["text", "image"]


def test_a_100k_prompt_is_kept_not_sent(app_env, fake, settings):
    at = studio()
    settle(at.chat_input[0].set_value("long " * 20_000).run())
    at.run()
    assert not at.exception and fake.requests == []
    assert any("100,000 characters" in e.value and "Shorten it with Edit and resend" in e.value for e in at.error)
    svc = StudioService.from_settings(settings)
    assert len(svc.conversation(svc.conversations()[0].id).turns[0].parts[0].text) == 99_999
    # Retry could never succeed, so it is not offered: Edit and resend, or Remove.
    assert not any(b.label == "Retry" for b in at.button)
    turn_id = svc.conversation(svc.conversations()[0].id).turns[0].id
    at.text_area(key=f"edit-{turn_id}").set_value("long, but short enough now")
    settle(at.button(key=f"resend-{turn_id}").click().run())
    assert not at.exception and len(fake.requests) == 1
    assert fake.requests[0]["contents"][-1]["parts"] == [{"text": "long, but short enough now"}]
    assert svc.store.turn(turn_id).status == TurnStatus.REPLACED  # the attempt stays, marked as retried
    assert any("Result 1" in m.value for m in at.markdown)


def test_a_failed_turn_can_be_removed(app_env, fake, settings):
    fake.then(google_error(400, "INVALID_ARGUMENT", "refused"))
    at = studio()
    settle(at.chat_input[0].set_value("a message the service refuses").run())
    svc = StudioService.from_settings(settings)
    conversation = svc.conversations()[0].id
    failed = svc.conversation(conversation).turns[0]
    assert any(b.label == "Retry" for b in at.button)  # a 400 may pass next time: Retry is offered
    at.button(key=f"remove-{failed.id}").click().run()
    at.run()
    assert svc.conversation(conversation).turns == []
    assert not any("a message the service refuses" in t.value for t in at.text)


MARKUP = "<script>alert('x')</script> <img src=x onerror=alert(1)> **bold** [link](http://x) שלום مرحبا 🍌 $x^2$"


def test_markup_in_prompts_and_model_text_shows_as_text(app_env, fake):
    original = fake.answer

    def answer_with_markup(body):
        payload = original(body)
        payload["candidates"][0]["content"]["parts"][2]["text"] = MARKUP
        fake.issued[-1]["parts"][2]["text"] = MARKUP
        return payload

    fake.answer = answer_with_markup
    at = studio()
    settle(at.chat_input[0].set_value(MARKUP).run())
    at.run()
    assert not at.exception
    assert [t.value for t in at.text if "script" in t.value] == [MARKUP]  # the prompt: text, never parsed
    model = [m for m in at.markdown if "script" in m.value]
    assert len(model) == 1  # the model's words: safe Markdown
    assert not model[0].proto.allow_html and "\\$x^2\\$" in model[0].value  # no raw HTML, no maths
    # Nothing from the wire turns into an autolink or icon; a link shows its address, as text.
    assert "link (http\\:\u2060//x)" in model[0].value


def test_long_conversations_show_the_latest_turns_and_earlier_on_request(app_env, settings, fake):
    svc = StudioService.from_settings(settings)
    conversation = svc.new_conversation()
    for n in range(7):
        svc.send(conversation.id, f"edit {n}")
    at = studio(session=conversation.id)
    shown = [t.value for t in at.text if t.value.startswith("edit")]
    assert shown == ["edit 4", "edit 5", "edit 6"]
    earlier = next(b for b in at.button if b.label.startswith("Show earlier"))
    assert "4 hidden" in earlier.label
    earlier.click().run()
    assert [t.value for t in at.text if t.value.startswith("edit")] == [f"edit {n}" for n in range(1, 7)]
    next(b for b in at.button if b.label.startswith("Show earlier")).click().run()
    assert [t.value for t in at.text if t.value.startswith("edit")] == [f"edit {n}" for n in range(7)]
    assert not any(b.label.startswith("Show earlier") for b in at.button)
    window = svc.conversation(conversation.id, visible=2)
    assert [t.parts_loaded for t in window.turns] == [False] * 10 + [True] * 4
    assert [e.request.status for e in window.exchanges] == [TurnStatus.OK] * 7


def test_the_meter_and_the_chat_say_which_turns_the_model_no_longer_sees(app_env, monkeypatch, settings, fake):
    monkeypatch.setenv("STUDIO_MAX_REQUEST_MB", "0.2")
    fake.signature_bytes = 40_000
    at = studio()
    for n in range(5):
        settle(at.chat_input[0].set_value(f"edit {n}").run())
    at.run()
    assert not at.exception
    assert any("no longer sees turns 1–" in c.value for c in at.sidebar.caption)
    unseen = [c for c in at.main.caption if "no longer sees this turn" in c.value]
    assert 1 <= len(unseen) < 4  # some visible turns are past the limit, the newest are not
    assert any(p.proto.text.startswith("Next request") for p in at.get("progress"))


def _holds_bytes(value, depth=0) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview, io.IOBase)):  # UploadedFile is a BytesIO
        return True
    if getattr(value, "files", None) is not None:  # a chat input value still holding its uploads
        return _holds_bytes(list(value.files), depth + 1)
    if depth > 4:
        return False
    if isinstance(value, dict):
        return any(_holds_bytes(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_bytes(v, depth + 1) for v in value)
    return False


def test_no_image_bytes_in_session_state_and_one_service_for_all_sessions(app_env, fake, monkeypatch):
    import core.service

    built = []
    real = core.service.StudioService.from_settings.__func__

    def counting(cls, settings, **options):
        built.append(settings.database_url)
        return real(cls, settings, **options)

    monkeypatch.setattr(core.service.StudioService, "from_settings", classmethod(counting))
    first = studio()
    first.chat_input[0].upload("a.png", image_bytes((32, 32)), "image/png")
    settle(first.chat_input[0].set_value("with a photo").run())
    first.run()
    second = studio()
    second.run()
    assert not first.exception and not second.exception
    assert len(built) == 1  # the engine and HTTP session are made once per process
    for at in (first, second):
        state = at._session_state.filtered_state  # every user-visible key, widgets included
        assert not _holds_bytes(state), state


def test_redo_continue_and_search_grounding(app_env, settings, fake):
    svc = StudioService.from_settings(settings)
    conversation = svc.new_conversation()
    at = studio(session=conversation.id)
    sidebar_widget(at.toggle, "Google Search grounding").set_value(True).run()
    settle(at.chat_input[0].set_value("weather in Paris as a poster").run())
    at.run()
    assert fake.requests[-1]["tools"] == [{"google_search": {}}]
    frames = [m.value for m in at.markdown if m.value.startswith("<iframe")]
    assert len(frames) == 1 and 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frames[0]
    assert "&lt;div class=&#x27;chip&#x27;&gt;weather in Paris" in frames[0]  # Google's chip, inside only
    assert any("Searched for: weather in Paris" in c.value for c in at.caption)

    settle(at.button(key=f"regen-{svc.conversation(conversation.id).turns[1].id}").click().run())
    at.run()
    assert len(fake.requests) == 2
    after = svc.conversation(conversation.id)
    exchanges = after.exchanges
    # Another take: both stay as versions, the new one is current and is what the chat shows.
    assert [e.request.status for e in exchanges] == [TurnStatus.OK, TurnStatus.OK]
    assert after.tip_id == exchanges[-1].reply.id

    latest = exchanges[-1].reply
    at.button(key=f"branch-{latest.id}").click().run()
    assert "session" not in at.query_params  # Continue creates nothing until something is sent
    assert len(svc.conversations()) == 1
    assert any("Continuing from" in c.value for c in at.caption)
    settle(at.chat_input[0].set_value("now in winter").run())
    branch = at.query_params["session"]
    branch = branch[0] if isinstance(branch, list) else branch
    assert branch != conversation.id
    created = svc.conversation(branch)
    assert created.title.startswith("From: ")
    assert [p.image_hash for p in created.turns[0].parts if p.image_hash] == [latest.result_image.image_hash]


def test_typing_4k_16_9_sets_the_output_and_the_sidebar_follows(app_env, settings, fake):
    at = studio()
    settle(at.chat_input[0].set_value("a red bicycle on a beach").run())
    settle(at.chat_input[0].set_value("4K, 16:9").run())
    settle(at.chat_input[0].set_value("add a bell").run())
    assert not at.exception
    configs = [r["generationConfig"]["imageConfig"] for r in fake.requests]
    assert configs[1:] == [{"aspectRatio": "16:9", "imageSize": "4K"}] * 2
    session = at.query_params["session"]
    session = session[0] if isinstance(session, list) else session
    ratio = sidebar_widget(at.selectbox, "Aspect ratio")
    assert ratio.value == "16:9"
    assert at.sidebar.get("button_group")[0].value == "4K"  # the sidebar's size control


def test_images_have_alt_text_and_results_are_announced(app_env, fake):
    at = studio()
    at.chat_input[0].upload("photo.png", image_bytes((20, 20)), "image/png")
    settle(at.chat_input[0].set_value("a kite over the dunes").run())
    alts = [i.proto.imgs[0].alt for i in at.get("image")]
    assert "Your image 1, sent with: a kite over the dunes" in alts
    assert "Result for: a kite over the dunes" in alts
    assert any(
        'aria-live="polite"' in h.proto.body and "A new image is ready, for: a kite over the dunes" in h.proto.body
        for h in at.get("html")
    )


def oidc_studio(monkeypatch, user: dict, **query) -> AppTest:
    monkeypatch.setenv("STUDIO_ALLOWED_DOMAINS", "example.com")
    monkeypatch.setenv("STUDIO_ADMINS", "boss@example.com")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "not-a-real-secret",
        "client_id": "studio",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
    at.user = user
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_sign_in_with_oidc_lets_in_only_allowed_people_and_shows_nothing_before(app_env, monkeypatch, settings, fake):
    svc = StudioService.from_settings(settings)
    secret = svc.new_conversation(owner="ann@example.com")
    svc.send(secret.id, "Ann's secret campaign")
    signed_out = oidc_studio(monkeypatch, {"is_logged_in": False})
    assert not signed_out.exception
    assert [b.label for b in signed_out.button] == ["Sign in"]
    assert not signed_out.chat_input and "secret" not in all_text(signed_out)
    outsider = oidc_studio(monkeypatch, {"is_logged_in": True, "email": "eve@other.org", "name": "Eve"})
    assert any("eve@other.org may not use this studio" in w.value for w in outsider.warning)
    assert not outsider.chat_input
    bob = oidc_studio(monkeypatch, {"is_logged_in": True, "email": "bob@example.com", "name": "Bob"}, session=secret.id)
    assert any("does not exist" in e.value for e in bob.error) and "secret" not in all_text(bob)
    ann = oidc_studio(monkeypatch, {"is_logged_in": True, "email": "ann@example.com", "name": "Ann"}, session=secret.id)
    assert "Ann's secret campaign" in all_text(ann) and ann.chat_input
    assert any("Signed in as Ann (ann@example.com)" in c.value.replace("\u2060", "") for c in ann.caption)


def test_the_gallery_page_lists_results_and_stars_them(app_env, settings, fake):
    svc = StudioService.from_settings(settings)
    conversation = svc.new_conversation()
    svc.send(conversation.id, "a lantern festival")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/gallery.py").run()
    assert not at.exception
    assert any("a lantern festival" in c.value for c in at.caption)
    reply = svc.conversation(conversation.id).exchanges[0].reply
    at.button(key=f"star-{reply.id}").click().run()
    at.toggle(key="gallery-favourites").set_value(True).run()
    assert any("a lantern festival" in c.value for c in at.caption)
    assert [link.proto.query_string for link in at.get("page_link") if link.label == "Open"]


def test_each_answer_and_the_conversation_show_their_cost_and_the_next_turn_an_estimate(app_env, fake):
    at = settle(studio().chat_input[0].set_value("a red bicycle on a beach").run())
    assert not at.exception
    text = all_text(at)
    # The fake reports 10 prompt and 1290 output tokens with no details: for Nano Banana 2 a 1K
    # image is 1120 of them at $60/M, the other 170 text at $3/M: 5 + 67,200 + 510 micro-dollars.
    assert "$0.068" in text
    assert "Spent here: **$0.068**" in text
    assert "Next turn ≈" in text and "re-sending the history" in text


def test_the_usage_page_shows_spend_and_its_charts_and_a_person_sees_only_their_own(
    app_env, monkeypatch, settings, fake
):
    svc = StudioService.from_settings(settings)
    mine = svc.new_conversation(owner="bob@example.com")
    svc.send(mine.id, "a lantern festival")
    theirs = svc.new_conversation(owner="ann@example.com")
    svc.send(theirs.id, "Ann's secret campaign")
    bob = {"is_logged_in": True, "email": "bob@example.com", "name": "Bob"}
    at = oidc_studio(monkeypatch, bob)
    at.switch_page("pages/usage.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Spent"] == "$0.068" and metrics["Calls"] == "1"
    assert len(at.get("vega_lite_chart")) == 2  # by day, by model; by person is for admins
    links = [link.label for link in at.get("page_link")]
    assert any("a lantern festival" in label for label in links)
    assert not any("secret" in label for label in links)
    assert "Download every call (CSV)" in [b.label for b in at.get("download_button")]
    boss = oidc_studio(monkeypatch, {"is_logged_in": True, "email": "boss@example.com", "name": "Boss"})
    boss.switch_page("pages/usage.py").run()
    assert {m.label: m.value for m in boss.metric}["Spent"] == "$0.135"
    assert len(boss.get("vega_lite_chart")) == 3
    assert svc.as_user(svc_user("bob@example.com")).usage_csv(since_month()).count("\n") == 2  # header + 1 call


def svc_user(email: str):  # type: ignore[no-untyped-def]
    from core.team.people import User

    return User(email=email, name=email)


def since_month():  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.datetime(2000, 1, 1)


def test_demo_mode_offers_examples_to_try_strict_limits_and_no_operator_detail(monkeypatch, db_url):
    monkeypatch.delenv("COMETAPI_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("STUDIO_DEMO", "1")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["visitor-token"] = "c3" * 24  # what the browser's visitor key reports
    at.run()
    assert not at.exception
    text = all_text(at)
    assert [h.value for h in at.subheader] == ["Try an example"]
    assert "1. a red bicycle on a beach at sunset" in text
    assert "COMETAPI_KEY" not in text and "127.0.0.1" not in text
    at.button(key=next(b.key for b in at.button if b.label == "Try it")).click().run()
    assert not at.exception
    opened = at.query_params["session"]
    opened = opened[0] if isinstance(opened, list) else opened
    svc = StudioService.from_settings(__import__("core.config", fromlist=["x"]).load_settings())
    copy = svc.conversation(opened)
    assert copy.title.startswith("Copy of A bicycle") and copy.owner.endswith("@visitor.demo")
    assert len(copy.exchanges) == 3
    settle(at.chat_input[0].set_value("now at night").run())
    assert not at.exception
    copy = svc.conversation(opened)
    assert copy.exchanges[-1].request.status == TurnStatus.OK  # the offline model accepted the exact replay
    assert "4K" not in svc.image_sizes(svc.catalog.default)
    assert svc.settings.limit_running == 1 and svc.settings.limit_person_day_usd == 1.0


def test_demo_visitors_never_see_the_operators_configuration(app_env, monkeypatch, settings, fake):
    monkeypatch.setenv("STUDIO_DEMO", "1")
    monkeypatch.setenv("STUDIO_DEMO_EXAMPLES", "none-chosen")
    fake.api_key = "another-key"  # the service refuses the studio's key
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["visitor-token"] = "d4" * 24
    at = settle(at.run().chat_input[0].set_value("a kite").run())
    assert not at.exception
    text = all_text(at)
    assert "cannot use the image service right now" in text
    assert "COMETAPI_KEY" not in text and "secrets.toml" not in text


def test_opening_an_answer_from_another_branch_opens_that_branch(app_env, settings, fake):
    svc = StudioService.from_settings(settings)
    c = svc.new_conversation()
    first = svc.send(c.id, "a bicycle").reply
    blue = svc.send(c.id, "make it blue").reply
    svc.turns.branch(first.id)
    svc.send(c.id, "make it green")
    at = studio(session=c.id, turn=str(blue.id))  # as the gallery's Open does
    assert not at.exception
    assert svc.conversation(c.id).tip_id == blue.id
    assert "make it blue" in [t.value for t in at.text]
    assert [e.request.text for e in svc.conversation(c.id).path] == ["a bicycle", "make it blue"]


def test_takes_land_side_by_side_and_using_one_makes_it_current(app_env, settings, fake):
    svc = StudioService.from_settings(settings)
    c = svc.new_conversation()
    svc.send(c.id, "a bicycle")
    takes = svc.queue_takes(c.id, "make it blue", takes=3)
    at = settle(studio(session=c.id))
    assert not at.exception
    grid = svc.conversation(c.id)
    replies = [e.reply for e in grid.exchanges if e.request.id in {t.id for t in takes}]
    assert len(replies) == 3 and grid.tip_id in {r.id for r in replies}
    assert any(c.value.startswith("3 takes of this prompt") for c in at.caption)
    # The prompt once, above its takes; a Use this one under each take but the current one.
    assert [t.value for t in at.text].count("make it blue") == 1
    uses = [b for b in at.button if b.key and b.key.startswith("use-take-")]
    assert sorted(b.key for b in uses) == sorted(f"use-take-{r.id}" for r in replies if r.id != grid.tip_id)
    chosen = next(r for r in replies if r.id != grid.tip_id)
    at.button(key=f"use-take-{chosen.id}").click().run()
    at.run()
    assert svc.conversation(c.id).tip_id == chosen.id
    assert f"use-take-{chosen.id}" not in {b.key for b in at.button}
    settle(at.chat_input[0].set_value("add a bell").run())
    contents = fake.requests[-1]["contents"]
    words = [x["parts"][0]["text"] for x in contents if x["role"] == "user"]
    assert words == ["a bicycle", "make it blue", "add a bell"]
    # The chosen take is what the model is shown as its answer to "make it blue".
    image = chosen.result_image.image_hash
    sent = [p["inlineData"]["data"] for p in contents[3]["parts"] if "inlineData" in p]
    assert sent[-1] == base64.b64encode(svc.images.download(image)[0]).decode()  # the last is the result

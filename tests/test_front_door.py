"""One front door (issue 23, item 3): a person's words pass their workspace and then the
capability services, never a second facade; the service is the wiring a process builds once, and
its verbs for entries with no person at them (core/unattended.py) are not the pages' or ui's."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from core.service import StudioService
from core.team.people import User
from core.unattended import Unattended
from core.values import TurnStatus, WaitingMessage
from tests.test_access import wait_until

ROOT = Path(__file__).resolve().parent.parent
ANN = User(email="ann@example.com", name="Ann")
# What a page or ui/ may use of the service: the wiring (a person's workspace, the settings, a
# deploy's drain, a demo's visitors at arrival, the store's ping in an outage, closing).
WIRING = {"as_user", "settings", "drain", "draining", "visitors", "reachable", "close"}
VERBS = {name for name, _ in inspect.getmembers(Unattended, inspect.isfunction) if not name.startswith("_")}


def service_uses(source: str) -> list[tuple[int, str]]:
    """Every attribute used on the service in a module: on `service()`, on a name bound to it, or
    on a parameter annotated `StudioService`."""
    tree = ast.parse(source)
    names = {"service"}  # ui/draining.py's parameter
    for node in ast.walk(tree):
        is_call = isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
        if is_call and isinstance(node.value.func, ast.Name) and node.value.func.id == "service":  # type: ignore[union-attr]
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        if (
            isinstance(node, ast.arg)
            and node.annotation is not None
            and "StudioService" in ast.unparse(node.annotation)
        ):
            names.add(node.arg)
    used = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        value = node.value
        on_call = isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "service"
        if on_call or (isinstance(value, ast.Name) and value.id in names):
            used.append((node.lineno, node.attr))
    return used


def test_pages_and_ui_use_only_the_wiring_of_the_service():
    files = [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py")), *sorted((ROOT / "ui").rglob("*.py"))]
    found = {(str(f.relative_to(ROOT)), line, attr) for f in files for line, attr in service_uses(f.read_text())}
    assert {attr for _, _, attr in found} >= {"as_user", "drain"}  # the scan sees the real uses
    assert [use for use in found if use[2] not in WIRING] == []
    # and it would see a page calling a verb for entries without a person
    planted = "from ui.common import service\nsvc = service()\nsvc.send('c', 'hi')\nservice().queue('c', 'x')\n"
    assert sorted(attr for _, attr in service_uses(planted)) == ["queue", "send"]


def test_the_verbs_for_entries_without_a_person_hold_no_rule():
    """Each is one call into a capability service (one statement, after its docstring)."""
    tree = ast.parse((ROOT / "core" / "unattended.py").read_text())
    verbs = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)]
    assert {f.name for f in verbs} == VERBS and len(VERBS) > 20
    for verb in verbs:
        body = [s for s in verb.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        assert len(body) == 1, verb.name


def test_the_front_door_modules_never_call_the_services_own_verbs():
    for path in ("core/workspace.py", "core/demo.py", "core/versions/desk.py", "core/review/desk.py"):
        tree = ast.parse((ROOT / path).read_text())
        calls = [
            n.attr
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute) and n.value.attr == "service"
        ]
        assert [c for c in calls if c in VERBS] == [], path


@pytest.fixture
def no_service_verbs(monkeypatch):
    """Every verb for entries without a person refuses: whatever a person does must not use them."""
    for name in VERBS:

        def refuse(*args, _name=name, **kwargs):
            raise AssertionError(f"a person's words went through StudioService.{_name}")

        monkeypatch.setattr(StudioService, name, refuse)


def test_a_persons_words_pass_one_facade(service, fake, no_service_verbs):
    ann = service.as_user(ANN)
    with pytest.raises(AssertionError, match=r"StudioService\.queue"):
        service.queue("any", "the fixture refuses the service's own verbs")
    assert not hasattr(ann, "service")  # the workspace holds the capability services, not the facade
    conversation = ann.new_conversation()
    ann.rename(conversation.id, "A bicycle")
    ann.change_settings(conversation.id, aspect_ratio="16:9")
    assert ann.image_sizes(ann.catalog.default) and ann.offered_models() and not ann.draining

    first, error = ann.submit(conversation.id, "a red bicycle", [])
    assert error is None
    wait_until(lambda: service.store.turn(first.id).status == TurnStatus.OK)
    shown = ann.conversation(conversation.id)
    assert shown.title == "A bicycle" and shown.settings.aspect_ratio == "16:9"
    newest, states = ann.watch(conversation.id, {first.id})
    assert newest[0] is not None and states[first.id].status == TurnStatus.OK

    made, error = ann.type_ahead(conversation.id, "make it blue", [], seen=ann.conversation(conversation.id).seen)
    assert error is None and not isinstance(made, WaitingMessage)
    wait_until(lambda: service.store.turn(made.id).status == TurnStatus.OK)
    reply = service.store.reply_to(made.id)
    assert reply is not None
    again = ann.queue_regenerate(reply.id, seen=ann.conversation(conversation.id).seen)
    wait_until(lambda: service.store.turn(again.id).status == TurnStatus.OK)
    takes = ann.versions.takes(reply.id, 2, seen=ann.conversation(conversation.id).seen)
    wait_until(lambda: service.store.turn(takes.id).status == TurnStatus.OK)

    refused, error = ann.submit(conversation.id, "words kept", [], problems=["That file is not an image."])
    assert error is not None and refused.status == TurnStatus.FAILED
    retried = ann.queue_retry(refused.id, seen=ann.conversation(conversation.id).seen)
    wait_until(lambda: service.store.turn(retried.id).status == TurnStatus.OK)
    assert [t.parts[0].text for t in ann.conversation(conversation.id).turns if t.role == "user"][-1] == "words kept"

    image = ann.conversation(conversation.id).latest_image
    assert image is not None and image.image_hash
    seed = ann.continue_from(conversation.id, image.image_hash)
    fresh = ann.from_seed(seed)
    assert fresh.id != conversation.id and ann.conversation(fresh.id).turns == []
    assert sorted(s.id for s in ann.conversations()) == sorted([conversation.id, fresh.id])

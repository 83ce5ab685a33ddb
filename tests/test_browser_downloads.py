"""What a person keeps from a turn: files named after the version and the prompt, with the right
extension, and the note on what was done to an upload still at the turn after a reload."""

from __future__ import annotations

from tests.test_browser import ARTIFACTS, StudioServer, browser, fake_env, open_studio, send  # noqa: F401
from tests.test_images import _phone_photo


def test_downloads_are_named_after_the_version_and_upload_notes_stay_at_the_turn(browser, fake, settings, tmp_path):  # noqa: F811
    photo = tmp_path / "IMG_2041.JPG"
    photo.write_bytes(_phone_photo((3000, 2000)))
    server = StudioServer({**fake_env(settings), "STUDIO_MAX_UPLOAD_MB": "40"}).start()
    try:
        page = open_studio(browser, server.url)
        send(page, "A red bicycle on a beach, at dawn", attachment=photo)
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        page.reload()  # the toast is long gone; the note is kept at the turn
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        note = page.get_by_text("its location (GPS) and camera data were removed", exact=False)
        note.first.wait_for(timeout=15_000)
        assert page.get_by_text("sent at 1365×2048", exact=False).count() >= 1
        page.screenshot(path=str(ARTIFACTS / "browser-downloads.png"), full_page=True)
        with page.expect_download() as original:
            page.get_by_role("button", name="Original").first.click()
        assert original.value.suggested_filename == "v1-a-red-bicycle-on-a-beach-original-1.jpg"
        with page.expect_download() as result:
            page.get_by_role("button", name="Download").first.click()
        name = result.value.suggested_filename
        assert name.startswith("v1-a-red-bicycle-on-a-beach.") and name.rsplit(".", 1)[1] in ("png", "jpg", "webp")
    finally:
        server.stop()

"""Signing in to the dashboard: only staff, only with a fresh link used once, and every request
checked against the session the link opened."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie

from domain.services.staff import StaffRole
from handlers.contract import message_event
from tests.dashboard.conftest import CUSTOMER_ID, STAFF_ID, Site
from tests.handlers.chat import Chat


async def test_a_staff_member_signs_in_with_the_link_the_bot_sent_and_sees_the_charts(
    site: Site,
) -> None:
    token = await site.link_token()
    page = await site.client.get("/signin", params={"token": token})
    assert "登录活动看板" in await page.text()
    response = await site.client.post(
        "/signin", data={"token": token}, headers=site.origin, allow_redirects=False
    )
    assert response.status == 303
    cookie = SimpleCookie(response.headers["Set-Cookie"])["dashboard_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert 0 < int(cookie["max-age"]) <= 24 * 3600
    overview = await site.client.get("/")
    assert overview.status == 200
    html = await overview.text()
    assert 'data-chart="sales_by_day"' in html and "/static/echarts.min.js" in html
    assert "script-src 'self'" in overview.headers["Content-Security-Policy"]
    script = await site.client.get("/static/echarts.min.js")
    assert script.status == 200 and len(await script.read()) > 500_000


async def test_the_database_keeps_no_usable_token(site: Site) -> None:
    token = await site.link_token()
    async with site.app.engine.connect() as connection:
        from sqlalchemy import text

        stored = (await connection.execute(text("SELECT token_hash FROM dashboard_tokens"))).all()
    assert stored and all(token not in row[0] for row in stored)


async def test_no_link_and_no_cookie_is_refused(site: Site) -> None:
    response = await site.client.get("/")
    assert response.status == 401
    assert "/dashboard" in await response.text()
    refused = await site.client.post("/signin", data={"token": ""}, headers=site.origin)
    assert refused.status == 403


async def test_an_expired_link_is_refused(site: Site) -> None:
    token = await site.link_token()
    site.clock.advance(timedelta(minutes=10, seconds=1))
    response = await site.client.post("/signin", data={"token": token}, headers=site.origin)
    assert response.status == 403
    assert (await site.client.get("/")).status == 401


async def test_a_link_works_once(site: Site) -> None:
    token = await site.link_token()
    first = await site.client.post(
        "/signin", data={"token": token}, headers=site.origin, allow_redirects=False
    )
    assert first.status == 303
    site.client.session.cookie_jar.clear()
    again = await site.client.post("/signin", data={"token": token}, headers=site.origin)
    assert again.status == 403
    assert (await site.client.get("/")).status == 401


async def test_a_customer_gets_no_link(site: Site) -> None:
    chat = Chat.of(site.app.conversation, CUSTOMER_ID, "en")
    outcome = await chat.send("/dashboard")
    assert "signin" not in outcome.replies[-1].text
    assert "staff" in outcome.replies[-1].text.lower()


async def test_a_link_is_never_posted_in_a_group(site: Site) -> None:
    chat = Chat.of(site.app.conversation, STAFF_ID, "en")
    event = message_event(chat.user, -100123, "/dashboard", chat_type="supergroup")
    outcome = await chat.handle(event)
    assert "signin" not in outcome.replies[-1].text
    assert "private chat" in outcome.replies[-1].text


async def test_a_forged_cookie_is_refused(site: Site) -> None:
    site.client.session.cookie_jar.update_cookies({"dashboard_session": "forged-session-token"})
    assert (await site.client.get("/")).status == 401


async def test_a_granted_role_signs_in_and_a_revoked_one_is_turned_away_at_once(
    site: Site,
) -> None:
    agent = 777
    await site.app.services.staff.grant(agent, StaffRole.AGENT)
    await site.sign_in(agent)
    assert (await site.client.get("/")).status == 200
    await site.app.services.staff.revoke(agent)
    assert (await site.client.get("/")).status == 401


async def test_a_session_expires(site: Site) -> None:
    await site.sign_in()
    site.clock.advance(timedelta(hours=8, seconds=1))
    assert (await site.client.get("/")).status == 401


async def test_sign_out_needs_the_form_token_and_an_own_origin(site: Site) -> None:
    await site.sign_in()
    page = await (await site.client.get("/")).text()
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    forged = await site.client.post("/signout", data={"csrf": "x" * 64}, headers=site.origin)
    assert forged.status == 403
    cross_site = await site.client.post(
        "/signout", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status == 403
    assert (await site.client.get("/")).status == 200
    kept = {c.key: c.value for c in site.client.session.cookie_jar}["dashboard_session"]
    done = await site.client.post("/signout", data={"csrf": csrf}, headers=site.origin)
    assert done.status == 200
    # Whatever the browser kept, the session is over.
    site.client.session.cookie_jar.update_cookies({"dashboard_session": kept})
    assert (await site.client.get("/")).status == 401


async def test_a_sign_in_post_from_another_site_is_refused(site: Site) -> None:
    token = await site.link_token()
    response = await site.client.post(
        "/signin", data={"token": token}, headers={"Origin": "https://evil.example"}
    )
    assert response.status == 403


async def test_pages_are_in_the_staff_members_language(site: Site) -> None:
    english = Chat.of(site.app.conversation, STAFF_ID, "en")
    await english.send("/start")
    await site.sign_in()
    html = await (await site.client.get("/")).text()
    assert "Recharges by day" in html and "每日充值" not in html

"""The dashboard's web server (aiohttp): sign-in, pages, /metrics, /healthz and /readyz.

Every page checks the session cookie (HttpOnly, SameSite=Strict, expiring) against the
database and that its holder is still staff. Forms carry a token derived from the session and
must come from the dashboard's own origin. Pages are rendered on the server (Jinja2) in the
staff member's language; charts are drawn by Apache ECharts, served from the package.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.dashboard import broadcasts as bc
from bot.dashboard.exports import XLSX_TYPE, as_csv, as_xlsx
from bot.dashboard.metrics import CONTENT_TYPE, BotMetrics
from bot.dashboard.pages import PAGES, SUPERVISORS_ONLY, Page, PageBuilder, Scope
from domain.broadcasts import MAX_CAPTION_CHARS, MAX_SEGMENT_DAYS, MAX_VARIANTS, PushTarget
from domain.clock import Clock, utc_now
from domain.figures import Period
from domain.languages import DEFAULT_LANGUAGE, Language
from domain.persistence.migrate import current_revision, head_revision
from domain.phone import Carrier
from domain.services.broadcasts import BroadcastNotFound
from domain.services.dashboard_access import DashboardSession
from domain.services.registry import Services
from handlers.contract import MAX_PICTURE_BYTES, Notifier
from handlers.features.broadcast_desk import MAX_PUSH_CHARS
from handlers.features.broadcasts import TARGET_LABELS
from handlers.i18n import Texts, texts

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
COOKIE = "dashboard_session"
PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
DEFAULT_PERIOD = "week"
SECURITY_HEADERS = {
    # Scripts only from the dashboard itself: chart data travels as JSON, never as script.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The sign-in token is in the link's query: never sent to another site. (Not no-referrer:
    # browsers then send "Origin: null" with the dashboard's own forms.)
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class DashboardDeps:
    services: Services
    engine: Any  # AsyncEngine: its pool is read for /metrics, its revision for /readyz
    metrics: BotMetrics
    secure_cookie: bool = False
    clock: Clock = utc_now
    # Whether the front end is connected (None: this process runs none).
    frontend_ready: Callable[[], bool] | None = None
    # Days and hours are shown in this time zone (the customers', REMINDER_TIMEZONE).
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    # How often an open page's figures are read again and pushed to it when they changed.
    refresh_seconds: float = 5.0
    # Where a staff member's test push goes out (the bot's delivery port); None: this process
    # cannot send to Telegram, and the broadcast page says so.
    outbound: Notifier | None = None


DEPS = web.AppKey("dashboard", DashboardDeps)


def templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


TEMPLATES = web.AppKey("templates", Environment)


# The largest request the dashboard reads: a broadcast's picture (Telegram's limit) and its form.
MAX_REQUEST_BYTES = MAX_PICTURE_BYTES + 1024 * 1024


def build_dashboard(deps: DashboardDeps) -> web.Application:
    app = web.Application(middlewares=[_security_headers], client_max_size=MAX_REQUEST_BYTES)
    app[DEPS] = deps
    app[TEMPLATES] = templates()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/signin", sign_in_page)
    app.router.add_post("/signin", sign_in)
    app.router.add_post("/signout", sign_out)
    app.router.add_get("/", page)
    app.router.add_get("/p/{page}", page)
    app.router.add_get("/events", events)
    app.router.add_get("/export/{page}/{table}.{kind}", export)
    app.router.add_get("/broadcasts", broadcasts_page)
    app.router.add_post("/broadcasts", compose_broadcast)
    app.router.add_get("/broadcasts/progress", broadcasts_progress)
    app.router.add_get(r"/broadcasts/{broadcast:\d{1,12}}/report", broadcast_report)
    app.router.add_post(r"/broadcasts/{broadcast:\d{1,12}}/{action}", control_broadcast)
    app.router.add_static("/static/", STATIC, append_version=False)
    return app


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


# -- operations -------------------------------------------------------------------------------
async def metrics(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    body = await deps.metrics.render(deps.services.figures, deps.engine)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    checks: dict[str, bool] = {}
    try:
        checks["migrations"] = await current_revision(deps.engine) == head_revision()
        checks["database"] = True
    except Exception:
        log.warning("readiness: the database is not reachable", exc_info=True)
        checks["database"] = checks["migrations"] = False
    if deps.frontend_ready is not None:
        checks["frontend"] = deps.frontend_ready()
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


# -- sign-in ----------------------------------------------------------------------------------
def _render(
    request: web.Request, name: str, t: Texts, status: int = 200, **values: Any
) -> web.Response:
    page = request.app[TEMPLATES].get_template(name)
    html = page.render(t=t, lang="zh-CN" if t.language is Language.ZH_CN else "en", **values)
    return web.Response(text=html, content_type="text/html", status=status)


def _same_origin(request: web.Request) -> bool:
    """A form post from the dashboard's own pages (Origin, or else Referer, names its host)."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return False
    return origin.split("://", 1)[-1].split("/", 1)[0] == request.host


async def sign_in_page(request: web.Request) -> web.Response:
    """The link opens a page with one button: a link preview fetching the URL uses nothing."""
    token = request.query.get("token", "")
    return _render(request, "signin.html", texts(DEFAULT_LANGUAGE), token=token)


async def sign_in(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    t = texts(DEFAULT_LANGUAGE)
    if not _same_origin(request):
        return _render(request, "message.html", t, status=403, message=t("dashboard.refused"))
    form = await request.post()
    token = form.get("token")
    session = await deps.services.dashboard.open_session(token if isinstance(token, str) else "")
    if session is None:
        return _render(
            request, "message.html", t, status=403, message=t("dashboard.signin.invalid")
        )
    response = web.Response(status=303, headers={"Location": "/"})
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=int(session.lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=deps.secure_cookie,
    )
    return response


async def _session(request: web.Request) -> DashboardSession | None:
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    return await request.app[DEPS].services.dashboard.session(token)


async def _language(request: web.Request, session: DashboardSession) -> Texts:
    language = await request.app[DEPS].services.staff.language_of(session.telegram_id)
    return texts(language or DEFAULT_LANGUAGE)


async def _pages_for(request: web.Request, session: DashboardSession) -> list[str]:
    """The pages this staff member may open: the supervisors' ones for supervisors only."""
    staff = request.app[DEPS].services.staff
    if await staff.is_supervisor(session.telegram_id):
        return list(PAGES)
    return [name for name in PAGES if name not in SUPERVISORS_ONLY]


async def _builder(
    request: web.Request, session: DashboardSession, name: str, allowed: list[str] | None = None
) -> PageBuilder:
    """The page `name`, if it exists (404) and this staff member may open it (403); `allowed`:
    their pages when already read."""
    builder = PAGES.get(name)
    if builder is None:
        raise web.HTTPNotFound()
    if allowed is None:
        allowed = await _pages_for(request, session)
    if name not in allowed:
        t = await _language(request, session)
        raise web.HTTPForbidden(text=t("dashboard.supervisors_only"))
    return builder


def _needs_sign_in(request: web.Request) -> web.Response:
    t = texts(DEFAULT_LANGUAGE)
    response = _render(request, "message.html", t, status=401, message=t("dashboard.signin.needed"))
    response.del_cookie(COOKIE, path="/")
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    session = await _session(request)
    if session is None:
        return _needs_sign_in(request)
    form = await request.post()
    t = await _language(request, session)
    if not _same_origin(request) or form.get("csrf") != session.csrf:
        return _render(request, "message.html", t, status=403, message=t("dashboard.refused"))
    await request.app[DEPS].services.dashboard.sign_out(session.token)
    response = _render(request, "message.html", t, message=t("dashboard.signed_out"))
    response.del_cookie(COOKIE, path="/")
    return response


# -- pages ------------------------------------------------------------------------------------
def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


async def _scope(request: web.Request, deps: DashboardDeps) -> tuple[Scope, dict[str, str]]:
    """The period and campaign asked for (unknown values fall back to the last 7 days, all
    campaigns), and the query that asks for them again (for links and exports)."""
    query = request.query
    campaigns = await deps.services.figures.campaigns()
    chosen = next((c for c in campaigns if str(c.id) == query.get("campaign", "")), None)
    now = deps.clock()
    name = query.get("period", DEFAULT_PERIOD)
    period: Period
    first, last = _date(query.get("from", "")), _date(query.get("to", ""))
    if name == "campaign" and chosen is not None:
        period = Period(
            chosen.starts_at, min(chosen.ends_at, now) if chosen.starts_at < now else chosen.ends_at
        )
    elif name == "custom" and first is not None and last is not None and first <= last:
        start = datetime.combine(first, time(), deps.zone)
        end = datetime.combine(last + timedelta(days=1), time(), deps.zone)
        period = Period(start.astimezone(UTC), end.astimezone(UTC))
    else:
        if name not in PERIODS:
            name = DEFAULT_PERIOD
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        period = Period(end - PERIODS[name], end)
    kept = {"period": name}
    if chosen is not None:
        kept["campaign"] = str(chosen.id)
    if name == "custom" and first is not None and last is not None:
        kept.update({"from": first.isoformat(), "to": last.isoformat()})
    return Scope(period, chosen, deps.zone), kept


async def page(request: web.Request) -> web.Response:
    session = await _session(request)
    if session is None:
        return _needs_sign_in(request)
    name = request.match_info.get("page", "overview")
    allowed = await _pages_for(request, session)
    builder = await _builder(request, session, name, allowed)
    deps = request.app[DEPS]
    t = await _language(request, session)
    scope, kept = await _scope(request, deps)
    built = await builder(deps.services, t, scope)
    charts = {chart.key: chart.as_json() for chart in built.charts}
    campaigns = await deps.services.figures.campaigns()
    return _render(
        request,
        "page.html",
        t,
        csrf=session.csrf,
        page=name,
        pages=allowed,
        built=built,
        query=urlencode(kept),
        kept=kept,
        periods=[*PERIODS, "campaign", "custom"],
        campaigns=campaigns,
        zh=t.language is Language.ZH_CN,
        shown_from=scope.local(scope.period.start).strftime("%Y-%m-%d %H:%M"),
        shown_to=scope.local(scope.period.end).strftime("%Y-%m-%d %H:%M"),
        charts=json.dumps(charts, ensure_ascii=False).replace("<", "\\u003c"),
    )


def _cell(value: object) -> str:
    return "—" if value is None else str(value)


def live_figures(built: Page) -> str:
    """What a live page redraws: its charts, and its tables' cells as the page shows them."""
    return json.dumps(
        {
            "charts": {chart.key: chart.as_json() for chart in built.charts},
            "tables": {
                table.key: [[_cell(cell) for cell in row] for row in table.rows]
                for table in built.tables
            },
        },
        ensure_ascii=False,
    )


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events for an open page (`?page=NAME` and the page's own query): its
    figures at once, then again whenever they change (read every `refresh_seconds`), and
    "signed-out" when the session ends (checked on every round), after which the stream ends."""
    session = await _session(request)
    if session is None:
        return _needs_sign_in(request)
    builder = await _builder(request, session, request.query.get("page", "overview"))
    deps = request.app[DEPS]
    t = await _language(request, session)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    last = ""
    try:
        while True:
            if await _session(request) is None:
                await response.write(b"event: signed-out\ndata: {}\n\n")
                break
            scope, _ = await _scope(request, deps)
            figures = live_figures(await builder(deps.services, t, scope))
            if figures != last:
                await response.write(f"event: figures\ndata: {figures}\n\n".encode())
                last = figures
            else:
                await response.write(b": unchanged\n\n")
            await asyncio.sleep(deps.refresh_seconds)
    except ConnectionResetError:
        pass  # the page was closed
    return response


async def export(request: web.Request) -> web.StreamResponse:
    session = await _session(request)
    if session is None:
        return _needs_sign_in(request)
    name, table_key, kind = (
        request.match_info["page"],
        request.match_info["table"],
        request.match_info["kind"],
    )
    if kind not in ("csv", "xlsx"):
        raise web.HTTPNotFound()
    builder = await _builder(request, session, name)
    deps = request.app[DEPS]
    t = await _language(request, session)
    scope, _ = await _scope(request, deps)
    built = await builder(deps.services, t, scope)
    table = next((table for table in built.tables if table.key == table_key), None)
    if table is None:
        raise web.HTTPNotFound()
    filename = f"{name}-{table.key}-{scope.local(scope.period.start):%Y%m%d}.{kind}"
    if name in SUPERVISORS_ONLY:  # a copy of audit records leaving the system is recorded
        await deps.services.audit.record_export(session.telegram_id, "", f"dashboard {filename}")
    body, content_type = (
        (as_csv(table), "text/csv; charset=utf-8") if kind == "csv" else (as_xlsx(table), XLSX_TYPE)
    )
    return web.Response(
        body=body,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


# -- the broadcast page -----------------------------------------------------------------------
async def _staff_page(request: web.Request) -> tuple[DashboardSession, Texts] | web.Response:
    session = await _session(request)
    if session is None:
        return _needs_sign_in(request)
    return session, await _language(request, session)


async def _render_broadcasts(
    request: web.Request,
    session: DashboardSession,
    t: Texts,
    draft: bc.Draft | None = None,
    *,
    status: int = 200,
    notice: str | None = None,
    reach: bc.ReachShown | None = None,
) -> web.Response:
    deps = request.app[DEPS]
    service = deps.services.broadcasts
    campaigns = await service.campaigns()
    draft = draft or bc.Draft()
    if reach is None and not draft.errors:
        reach = await bc.reach_of(t, service, draft)
    zone = service.config.timezone
    items = [bc.listed(t, item, zone) for item in await service.recent(bc.LISTED)]
    return _render(
        request,
        "broadcasts.html",
        t,
        status=status,
        csrf=session.csrf,
        page="broadcasts",
        pages=await _pages_for(request, session),
        query="",
        draft=draft,
        checked=bc.checked,
        reach=reach,
        reviewed=draft.fingerprint() if reach is not None else "",
        more_texts=range(2, MAX_VARIANTS + 1),
        caption_most=MAX_CAPTION_CHARS,
        picture_most=MAX_PICTURE_BYTES // (1024 * 1024),
        audience=bc.audience_words(t, draft, campaigns),
        notice=notice,
        campaigns=campaigns,
        language=t.language,
        targets=[(target.value, t(TARGET_LABELS[target])) for target in PushTarget],
        tiers=[(str(int(tier)), t(f"tier.{tier.key}")) for tier in bc.TIERS],
        carriers=[(carrier.value, t(f"carrier.{carrier.value}")) for carrier in Carrier],
        paid_allowed=service.config.paid_allowed,
        zone=zone,
        quiet=str(service.config.quiet_hours),
        most=MAX_PUSH_CHARS,
        max_days=MAX_SEGMENT_DAYS,
        items=items,
        actions=bc.ACTIONS,
        refresh_ms=int(deps.refresh_seconds * 1000),
    )


async def broadcasts_page(request: web.Request) -> web.Response:
    found = await _staff_page(request)
    if isinstance(found, web.Response):
        return found
    session, t = found
    notice = None
    created = request.query.get("created", "")
    if created.isdigit():
        notice = t("dashboard.bc.created", id=created)
        if request.query.get("quiet") == "1":
            quiet = str(request.app[DEPS].services.broadcasts.config.quiet_hours)
            notice = t("dashboard.bc.created_quiet", id=created, quiet=quiet)
    return await _render_broadcasts(request, session, t, notice=notice)


def _refused(request: web.Request, t: Texts) -> web.Response:
    return _render(request, "message.html", t, status=403, message=t("dashboard.refused"))


async def compose_broadcast(request: web.Request) -> web.StreamResponse:
    """The compose form posted: `do` is reach (show it), test (to one's own chat), now or
    schedule (create the broadcast; shown the reach first when the audience changed since)."""
    found = await _staff_page(request)
    if isinstance(found, web.Response):
        return found
    session, t = found
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        draft = bc.Draft()
        draft.errors.append(t("dashboard.bc.picture_too_big", most=MAX_PICTURE_BYTES // 2**20))
        return await _render_broadcasts(request, session, t, draft, status=413)
    if not _same_origin(request) or not bc.form_token_ok(session, form):
        return _refused(request, t)
    deps = request.app[DEPS]
    service = deps.services.broadcasts
    campaigns = await service.campaigns()
    photo = bc.kept_photo(session, form)
    upload = form.get("picture")
    content = upload.file.read() if isinstance(upload, web.FileField) else b""
    picture, picture_error = bc.read_picture(t, content) if content else (None, None)
    pictured = photo is not None or picture is not None
    draft = bc.read_draft(t, form, campaigns, service.config.paid_allowed, pictured)
    if picture_error is not None:
        draft.errors.append(picture_error)
    if picture is not None:  # kept even when the rest of the form needs changing
        photo, error = await bc.keep_picture(t, deps.outbound, session.telegram_id, picture)
        if error is not None:
            draft.errors.append(error)
    if photo is not None:
        draft.with_photo(photo, bc.photo_mark(session, photo))
    action = str(form.get("do", "reach"))
    if action not in ("reach", "test", "now", "schedule"):
        draft.errors.append(t("dashboard.bc.bad_choice"))
    local_time = None
    if action == "schedule" and not draft.errors:
        local_time, error = bc.read_time(t, service, str(form.get("send_at", "")))
        if error is not None:
            draft.errors.append(error)
    if draft.errors or draft.content is None:
        return await _render_broadcasts(request, session, t, draft, status=400)
    reach = await bc.reach_of(t, service, draft)
    if action == "reach":
        return await _render_broadcasts(request, session, t, draft, reach=reach)
    if action == "test":
        notice = await bc.test_send(t, service, deps.outbound, session.telegram_id, draft.texts)
        return await _render_broadcasts(request, session, t, draft, notice=notice, reach=reach)
    if form.get("reviewed") != draft.fingerprint():
        notice = t("dashboard.bc.check_reach")
        return await _render_broadcasts(request, session, t, draft, notice=notice, reach=reach)
    broadcast_id = await service.create(
        draft.content,
        session.telegram_id,
        audience=draft.audience,
        campaign_id=draft.about,
        local_time=None if local_time is None else local_time.replace(tzinfo=None),
        urgent=draft.urgent and service.config.paid_allowed,
        variants=draft.variants,
        shares=draft.shares,
    )
    location = f"/broadcasts?created={broadcast_id}"
    if local_time is None and service.in_quiet_hours(service.now()):
        location += "&quiet=1"  # it goes out when the quiet hours end
    return web.Response(status=303, headers={"Location": location})


async def control_broadcast(request: web.Request) -> web.StreamResponse:
    """Pause, resume, cancel or delete (with its box ticked) a broadcast."""
    found = await _staff_page(request)
    if isinstance(found, web.Response):
        return found
    session, t = found
    form = await request.post()
    if not _same_origin(request) or not bc.form_token_ok(session, form):
        return _refused(request, t)
    service = request.app[DEPS].services.broadcasts
    broadcast_id, action = int(request.match_info["broadcast"]), request.match_info["action"]
    staff_id = session.telegram_id
    done: bool
    if action == "pause":
        done = await service.pause(broadcast_id, staff_id)
    elif action == "resume":
        done = await service.resume(broadcast_id, staff_id)
    elif action == "cancel":
        done = await service.cancel(broadcast_id, staff_id)
    elif action == "delete":
        if form.get("confirm") != "yes":
            notice = t("dashboard.bc.confirm_delete", id=broadcast_id)
            return await _render_broadcasts(request, session, t, status=400, notice=notice)
        count = await service.delete(broadcast_id, staff_id)
        if count is None:
            raise web.HTTPNotFound()
        notice = t("bcs.deleting_count", id=broadcast_id, count=count)
        return await _render_broadcasts(request, session, t, notice=notice)
    else:
        raise web.HTTPNotFound()
    key = {"pause": "bcs.paused", "resume": "bcs.resumed", "cancel": "bcs.cancelled"}[action]
    notice = t(key) if done else t("bcs.not_changed")
    return await _render_broadcasts(
        request, session, t, status=200 if done else 409, notice=f"#{broadcast_id}: {notice}"
    )


async def broadcast_report(request: web.Request) -> web.StreamResponse:
    """What a broadcast did, per text: its share, pushes delivered, customers who pressed a
    button, customers who completed a recharge within 24 hours of their push."""
    found = await _staff_page(request)
    if isinstance(found, web.Response):
        return found
    session, t = found
    service = request.app[DEPS].services.broadcasts
    broadcast_id = int(request.match_info["broadcast"])
    try:
        report = await service.report(broadcast_id)
    except BroadcastNotFound:
        raise web.HTTPNotFound() from None
    return _render(
        request,
        "broadcast_report.html",
        t,
        csrf=session.csrf,
        page="broadcasts",
        pages=await _pages_for(request, session),
        query="",
        broadcast_id=broadcast_id,
        rows=bc.report_rows(t, report),
    )


async def broadcasts_progress(request: web.Request) -> web.StreamResponse:
    """The listed broadcasts' progress, for the open page to redraw."""
    found = await _staff_page(request)
    if isinstance(found, web.Response):
        return found
    _, t = found
    service = request.app[DEPS].services.broadcasts
    zone = service.config.timezone
    items = [bc.listed(t, item, zone) for item in await service.recent(bc.LISTED)]
    return web.json_response(bc.live_progress(items))


async def start_dashboard(deps: DashboardDeps, host: str, port: int) -> web.AppRunner | None:
    """Serve the dashboard; None (and a warning) when the address cannot be taken: the bot
    runs on without it."""
    runner = web.AppRunner(build_dashboard(deps), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        log.warning(
            "the dashboard cannot listen on %s:%s (%s); running without it", host, port, error
        )
        await runner.cleanup()
        return None
    log.info("dashboard at http://%s:%s/", host, port)
    return runner

"""Usage: what was spent, by day, person and model; how much went on re-sending history; the
most expensive conversations; and every call as CSV. Your own, or everyone's for admins."""

from __future__ import annotations

import datetime as dt

import altair as alt
import streamlit as st

from core.money.limits import midnight, today_in
from core.money.prices import MICRO, dollars
from core.money.usage import UsageReport
from core.storage.schema import utcnow
from core.workspace import Workspace
from ui.common import STUDIO_PAGE, offline_banner, plain
from ui.identity import workspace
from ui.router import ensure_router

PERIODS = {"Today": 0, "Last 7 days": 7, "This month": -1, "Last 30 days": 30, "Last 12 months": 365}


def period(choice: str, zone: str) -> tuple[dt.datetime, dt.datetime | None]:
    """From midnight where the team is (STUDIO_TIMEZONE), as the ledger's UTC."""
    today = today_in(utcnow(), zone)
    days = PERIODS[choice]
    start = today.replace(day=1) if days == -1 else today - dt.timedelta(days=days)
    return midnight(start, zone), None


def _bars(rows: list[dict[str, object]], x: str, y: str, color: str | None = None) -> alt.Chart:
    chart = alt.Chart(alt.Data(values=rows)).mark_bar()
    encoding: dict[str, object] = {
        "x": alt.X(f"{x}:N", sort="-y" if color is None else None, title=None),
        "y": alt.Y(f"{y}:Q", title="USD", axis=alt.Axis(format="$.2f")),
        "tooltip": [f"{x}:N", alt.Tooltip(f"{y}:Q", format="$.3f")],
    }
    if color:
        encoding["color"] = alt.Color(f"{color}:N", title=None, legend=alt.Legend(orient="bottom"))
    return chart.encode(**encoding).properties(height=260)  # type: ignore[arg-type]


def render_report(report: UsageReport, *, everyone: bool) -> None:
    spent, unknown, share, calls = st.columns(4)
    spent.metric("Spent", dollars(report.known_micro))
    unknown.metric(
        "May be billed, cost unknown",
        dollars(report.unknown_micro),
        help=f"{report.unknown_calls} call(s) that timed out or reported no usage, counted at their estimate.",
    )
    share.metric(
        "Re-sending history",
        f"{report.history_share:.0%}",
        help="Of what was spent, the share that paid for sending earlier turns again (the prompt less the new "
        "message). Continue from an image to start afresh when this grows.",
    )
    calls.metric("Calls", f"{report.calls:,}", help=f"HTTP attempts, of which {report.retried} were retried.")
    if report.in_flight_micro:
        st.caption(f"Turns still being made hold {dollars(report.in_flight_micro)} against the limits.")
    if report.offline_calls:
        st.caption(
            f"{report.offline_calls:,} of these calls went to the offline demo model: never billed, they cost $0.00 "
            "and count against no limit."
        )
    if not report.calls and not report.in_flight_micro:
        st.info("Nothing spent in this period.")
        return
    by_day = [{"day": d.day.isoformat(), "model": d.model, "usd": d.micro / MICRO} for d in report.by_day]
    st.subheader("By day")
    st.altair_chart(_bars(by_day, "day", "usd", "model"), width="stretch")
    left, right = st.columns(2)
    with left:
        st.subheader("By model")
        st.altair_chart(
            _bars([{"model": s.key, "usd": s.micro / MICRO} for s in report.by_model], "model", "usd"),
            width="stretch",
        )
    with right:
        if everyone:
            st.subheader("By person")
            st.altair_chart(
                _bars([{"person": s.key, "usd": s.micro / MICRO} for s in report.by_person], "person", "usd"),
                width="stretch",
            )
    st.subheader("Most expensive conversations")
    for spend in report.top_conversations:
        cost, link = st.columns([1, 5], vertical_alignment="center")
        cost.markdown(f"**{dollars(spend.micro)}** · {spend.calls} calls")
        link.page_link(STUDIO_PAGE, label=plain(spend.label), query_params={"session": spend.key})


def main() -> None:
    ensure_router()
    svc: Workspace = workspace()
    offline_banner(svc)
    st.title("Usage")
    everyone = svc.user.is_admin
    choice_col, person_col = st.columns([2, 3], vertical_alignment="bottom")
    zone = svc.settings.timezone
    choice = choice_col.selectbox(f"Period ({zone})", list(PERIODS), index=2, key="usage-period")
    person = None
    if everyone:
        person = person_col.text_input("Person (email; empty for everyone)", key="usage-person") or None
    else:
        person_col.caption("Your own spending. Admins see everyone's.")
    since, until = period(choice, zone)
    report = svc.usage(since, until, person)
    render_report(report, everyone=everyone and person is None)
    if svc.offline:
        st.caption("Offline demo: its calls are never billed, so they cost nothing and count against no limit.")
    st.download_button(
        "Download every call (CSV)",
        data=lambda: svc.usage_csv(since, until, person),
        file_name=f"studio-usage-{since:%Y-%m-%d}.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )
    if everyone:
        with st.expander("Prices in use", icon=":material/sell:"):
            for spec in svc.catalog.models.values():
                p = spec.prices
                if p is None:
                    st.caption(f"{plain(spec.label)}: no prices (costs show as unknown)")
                    continue
                st.caption(
                    plain(
                        f"{spec.label}: in ${p.input_text:g}/M text, ${p.input_image:g}/M images; "
                        f"out ${p.output_text:g}/M text, ${p.output_image:g}/M images, ${p.thinking:g}/M thinking. "
                        f"Source {p.source}, checked {p.checked}."
                    )
                )
            st.caption("Override with your own account's rates in the file named by STUDIO_MODELS_FILE.")


main()

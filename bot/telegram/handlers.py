"""Commands and button presses: parse → one engine service call → view. No business rules.

Every update has already passed the owner gate (`bot.telegram.app`) before it reaches these.
Button presses are answered first (Telegram shows a spinner until then) and acted on after.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta, tzinfo

from telegram import Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from bot.telegram.alerts import confirmed_view
from bot.telegram.answers import settled_tap, unknown_view
from bot.telegram.callbacks import Action, ButtonPress, decode
from bot.telegram.chart_replies import send_chart
from bot.telegram.delivery import MessageRef, edit_view, send_view
from bot.telegram.outcomes import (
    decided_view,
    executing_lines,
    refusal_view,
    rejected_lines,
    sentence,
    snooze_buttons,
    snoozed_view,
)
from bot.telegram.plan_messages import PlanMessages, Turns
from bot.telegram.profit_views import profit_view
from bot.telegram.reports import help_view, history_view, status_view
from bot.telegram.settings_edit import SettingsEditor
from bot.telegram.settings_views import changed_view, settings_view, step_changes
from bot.telegram.signal_views import signals_summary_view
from bot.telegram.views import (
    View,
    empty_plan_view,
    notice_view,
    plan_view,
    portfolio_view,
    signals_view,
)
from core.config.settings import SettingsError
from core.domain.moments import owner_zone
from core.engine.service import EngineService, ServiceError
from core.exchange.errors import ExchangeError

log = logging.getLogger(__name__)

# Settings that list assets: a symbol the exchange does not list is worth a word.
ASSET_LISTS = frozenset({"never_sell", "watchlist"})

Context = ContextTypes.DEFAULT_TYPE


class Handlers:
    """The bot's commands and buttons, bound to one engine service and one owner chat."""

    def __init__(
        self,
        service: EngineService,
        editor: SettingsEditor,
        plan_messages: PlanMessages,
    ) -> None:
        self.service = service
        self.editor = editor
        self.plan_messages = plan_messages
        self.turns = Turns()

    @property
    def quote(self) -> str:
        return self.editor.current.quote

    @property
    def zone(self) -> tzinfo:
        """The owner's time zone (setting `timezone`): every time shown is in it."""
        return owner_zone(self.editor.current.timezone)

    # -- commands ----------------------------------------------------------------------------

    async def start(self, update: Update, context: Context) -> None:
        """/start: greeting and the command list."""
        await self._reply(update, context, help_view(self.editor.current.mode, greeting=True))

    async def help(self, update: Update, context: Context) -> None:
        """/help: the command list."""
        await self._reply(update, context, help_view(self.editor.current.mode))

    async def portfolio(self, update: Update, context: Context) -> None:
        """/portfolio: the holdings table with chart buttons."""
        await self._answer(update, context, self._portfolio_view)

    async def _portfolio_view(self) -> View:
        seen = await self.service.portfolio()
        current = self.editor.current
        return portfolio_view(seen.portfolio, seen.signals, seen.facts, current.policy,
                              current.timeframe)

    async def plan(self, update: Update, context: Context) -> None:
        """/plan: make a plan now. A new plan arrives as its own message through the events."""
        chat = _chat_id(update)
        await context.bot.send_chat_action(chat, ChatAction.TYPING)
        proposal = await self.service.plan_now()
        approval = proposal.approval
        if approval is not None and proposal.kept_pending:
            view = plan_view(approval.plan, approval.id, approval.expires_at, self.quote,
                             note="This plan still waits for your decision.", zone=self.zone)
            message = await send_view(context.bot, chat, view)
            await self.plan_messages.remember(approval.id,
                                              MessageRef(chat, message.message_id))
        elif approval is None and proposal.snoozed:
            await send_view(context.bot, chat, snoozed_view(proposal.snoozed, self.quote,
                                                            self.zone))
        elif approval is None and proposal.plan is not None and proposal.plan.is_empty:
            await send_view(context.bot, chat, empty_plan_view(proposal.plan, self.quote))
        elif approval is None:
            await send_view(context.bot, chat, notice_view(sentence(proposal.message)))

    async def signals(self, update: Update, context: Context) -> None:
        """/signals: one line per asset, holdings first; the votes behind a button."""
        current = self.editor.current

        async def view() -> View:
            scan = await self.service.current_scan()
            return signals_summary_view(scan.signals, current.timeframe, current.signal,
                                        scan.portfolio.holdings)

        await self._answer(update, context, view)

    async def _signal_details(self, chat: int, context: Context) -> None:
        """Each asset's votes and reasons (the button under /signals)."""
        current = self.editor.current
        try:
            view = signals_view(await self.service.signals(), current.timeframe, current.signal)
        except ServiceError as error:
            view = notice_view(f"⚠️ {sentence(str(error))}")
        await send_view(context.bot, chat, view)

    async def profit(self, update: Update, context: Context) -> None:
        """/profit: value change, realised P&L and fees per period, beside holding."""

        async def view() -> View:
            return profit_view(await self.service.profit(), self.zone)

        await self._answer(update, context, view)

    async def history(self, update: Update, context: Context) -> None:
        """/history: recent trades and plans."""

        async def view() -> View:
            return history_view(await self.service.history(), zone=self.zone)

        await self._answer(update, context, view)

    async def status(self, update: Update, context: Context) -> None:
        """/status: mode, exchange, last scan, next plan, errors."""

        async def view() -> View:
            return status_view(await self.service.status(), self.service.clock(), self.zone)

        await self._answer(update, context, view)

    async def pause(self, update: Update, context: Context) -> None:
        """/pause: stop proposing plans (scans and alerts continue)."""
        await self.service.pause()
        await self._reply(update, context, notice_view(
            "⏸ Paused: no new plans until /resume. Alerts continue."))

    async def resume(self, update: Update, context: Context) -> None:
        """/resume: propose plans again."""
        await self.service.resume()
        await self._reply(update, context, notice_view("▶️ Resumed: plans will be proposed."))

    async def settings(self, update: Update, context: Context) -> None:
        """/settings: grouped, in % and durations; `/settings NAME VALUE [NAME VALUE …]`
        changes settings together, validated as at start-up, and shows only what changed."""
        args = list(context.args or [])
        if not args:
            await self._reply(update, context, settings_view(self.editor.shown(),
                                                             self.editor.sources()))
            return
        if len(args) % 2:
            await self._reply(update, context, notice_view(
                "Usage: /settings NAME VALUE, e.g. /settings min_cash 22% or "
                "/settings turnover_period 30d"))
            return
        pairs = list(zip(args[::2], args[1::2], strict=True))
        await self._change_settings(_chat_id(update), context, pairs)

    async def _change_settings(
        self, chat: int, context: Context, pairs: list[tuple[str, str]]
    ) -> None:
        before = self.editor.shown()
        try:
            await self.editor.change_many(pairs)
        except SettingsError as error:
            await send_view(context.bot, chat, notice_view(f"❌ Not changed: {error}"))
            return
        await send_view(context.bot, chat, changed_view(before, self.editor.shown()))
        if self.editor.note:
            await send_view(context.bot, chat, notice_view(self.editor.note))
        for name, _ in pairs:
            warning = await self._asset_warning(name.strip().lower())
            if warning is not None:
                await send_view(context.bot, chat, notice_view(warning))

    async def _asset_warning(self, name: str) -> str | None:
        """For a changed asset list: which symbols the exchange does not list (a typo protects
        or watches nothing) and, for never_sell, which are not held now. None when all is well
        or when the exchange cannot tell us now."""
        if name not in ASSET_LISTS:
            return None
        settings = self.editor.current
        assets = [a for a in getattr(settings, name) if a not in settings.cash_assets]
        if not assets:
            return None
        try:
            listed = await self.service.listed_assets()
            held = set()
            if name == "never_sell":
                seen = (await self.service.current_scan()).portfolio
                held = set(seen.holdings) | set(seen.dust) | set(seen.unpriced)
        except (ServiceError, ExchangeError) as error:
            log.info("could not check %s against the exchange: %s", name, error)
            return None
        parts = []
        unlisted = [a for a in assets if a not in listed]
        if unlisted:
            parts.append(f"⚠️ {', '.join(unlisted)}: no {settings.quote} market on the "
                         f"exchange, so this does nothing; check the spelling.")
        if name == "never_sell":
            not_held = [a for a in assets if a in listed and a not in held]
            if not_held:
                parts.append(f"ℹ️ Not in your portfolio now: {', '.join(not_held)} "
                             "(protected once you hold it).")
        return " ".join(parts) or None

    async def chart(self, update: Update, context: Context) -> None:
        """/chart [allocation|value]: a picture of the allocation or of value over time."""
        args = [a.lower() for a in (context.args or [])]
        which = Action.CHART_VALUE if args and args[0].startswith("v") else Action.CHART_ALLOCATION
        await self._send_chart(_chat_id(update), context, which)

    async def unknown(self, update: Update, context: Context) -> None:
        """An unknown command or plain text: say so, with the commands that work."""
        message = update.effective_message
        text = message.text if message is not None and message.text else ""
        await self._reply(update, context, unknown_view(text))

    # -- buttons -----------------------------------------------------------------------------

    async def button(self, update: Update, context: Context) -> None:
        """A button press: answer it at once, then act on a well-formed payload only."""
        query = update.callback_query
        if query is None:
            return
        press = decode(query.data)
        # A tap on a settled plan is told so in the toast, not with an empty one.
        settled = None
        if press is not None and press.action in (Action.APPROVE, Action.REJECT):
            settled = settled_tap(await self.service.approval(press.approval_id or ""),
                                  self.zone)
        await query.answer(settled)
        if press is None:
            log.warning("ignored a button press with malformed data (update %s)",
                        update.update_id)
            return
        if press.action in (Action.CHART_ALLOCATION, Action.CHART_VALUE):
            await self._send_chart(_chat_id(update), context, press.action)
            return
        if press.action is Action.CONFIRM_ACCOUNT:
            confirmed = await self.service.confirm_account()
            log.info("the owner confirmed the account: %s", confirmed)
            await send_view(context.bot, _chat_id(update), confirmed_view(confirmed))
            return
        if press.action is Action.SIGNAL_DETAILS:
            await self._signal_details(_chat_id(update), context)
            return
        if press.action is Action.SETTINGS_STEP:
            pairs = step_changes(press.key or "", self.editor.shown())
            if pairs is not None:
                await self._change_settings(_chat_id(update), context, pairs)
            return
        message = query.message
        where = MessageRef(message.chat.id, message.message_id) if message is not None else None
        await self._decide(press, where, f"telegram:{query.from_user.id}", context)

    async def _decide(
        self, press: ButtonPress, where: MessageRef | None, by: str, context: Context
    ) -> None:
        approval_id = press.approval_id
        if approval_id is None:
            return
        if where is not None:
            await self.plan_messages.remember(approval_id, where)
        # Taps on one plan take turns, so a losing second tap can never write "executing"
        # over the result the first one produced. The engine alone decides what runs.
        async with self.turns.of(approval_id):
            if press.action is Action.SNOOZE and press.hours is not None:
                decision = await self.service.snooze_for(approval_id,
                                                         timedelta(hours=press.hours))
                approval = await self.service.approval(approval_id)
                if decision.ok and approval is not None and where is not None:
                    lines = rejected_lines(approval.decided_by, approval.decided_at
                                           or approval.created_at, decision.snoozed_until,
                                           self.zone)
                    await edit_view(context.bot, where, decided_view(
                        approval, lines, self.quote, self.zone, snooze_buttons(approval_id)))
            elif press.action is Action.REJECT:
                decision = await self.service.reject(approval_id, by)
            else:
                waiting = {a.id: a for a in await self.service.pending()}
                if approval_id in waiting and where is not None:
                    await edit_view(context.bot, where, decided_view(
                        waiting[approval_id], executing_lines(by, self.service.clock(),
                                                              self.zone), self.quote, self.zone))
                decision = await self.service.approve(approval_id, by)
            log.info("plan %s: %s", approval_id, decision.message)
            if not decision.ok and where is not None:
                view = refusal_view(decision, await self.service.approval(approval_id),
                                    self.quote, self.zone)
                if view is not None:
                    await edit_view(context.bot, where, view)

    # -- helpers -----------------------------------------------------------------------------

    async def _send_chart(self, chat: int, context: Context, which: Action) -> None:
        await send_chart(context.bot, chat, which, self.service, self.editor.current)

    async def _answer(
        self, update: Update, context: Context, make: Callable[[], Awaitable[View]]
    ) -> None:
        try:
            view = await make()
        except ServiceError as error:
            view = notice_view(f"⚠️ {sentence(str(error))}")
        await self._reply(update, context, view)

    async def _reply(self, update: Update, context: Context, view: View) -> None:
        await send_view(context.bot, _chat_id(update), view)


def _chat_id(update: Update) -> int:
    chat = update.effective_chat
    if chat is None:
        raise ValueError(f"update {update.update_id} has no chat to answer in")
    return chat.id

"""Commands and button presses: parse → one engine service call → view. No business rules.

Every update has already passed the owner gate (`bot.telegram.app`) before it reaches these.
Button presses are answered first (Telegram shows a spinner until then) and acted on after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from telegram import Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from bot.telegram.alerts import closed_view, executing_view, refused_view
from bot.telegram.callbacks import Action, ButtonPress, decode
from bot.telegram.charts import ValuePoint, allocation_chart, value_chart
from bot.telegram.delivery import MessageRef, edit_view, send_picture, send_view
from bot.telegram.format import esc, money, pct
from bot.telegram.reports import help_view, history_view, status_view
from bot.telegram.settings_edit import SettingsEditor
from bot.telegram.views import (
    View,
    empty_plan_view,
    notice_view,
    plan_view,
    portfolio_view,
    settings_view,
    signals_view,
)
from core.config.settings import SettingsError
from core.engine.approvals import ApprovalState, Decision
from core.engine.service import EngineService, ServiceError
from core.exchange.errors import ExchangeError

log = logging.getLogger(__name__)

# Settings that list assets: a symbol the exchange does not list is worth a word.
ASSET_LISTS = frozenset({"never_sell", "watchlist"})

Context = ContextTypes.DEFAULT_TYPE


class PlanMessages:
    """Which chat message shows which approval, so results can be written into it.

    Kept in the database through the engine service when one is given, so that an outcome
    settled after a restart (start-up recovery) still lands in the plan's own message.
    """

    def __init__(self, service: EngineService | None = None) -> None:
        self._where: dict[str, MessageRef] = {}
        self._service = service

    async def remember(self, approval_id: str, where: MessageRef) -> None:
        self._where[approval_id] = where
        if self._service is not None:
            await self._service.set_plan_message(approval_id,
                                                 (where.chat_id, where.message_id))

    async def find(self, approval_id: str) -> MessageRef | None:
        where = self._where.get(approval_id)
        if where is None and self._service is not None:
            stored = await self._service.plan_message(approval_id)
            if stored is not None:
                where = MessageRef(*stored)
        return where

    async def forget(self, approval_id: str) -> None:
        self._where.pop(approval_id, None)
        if self._service is not None:
            await self._service.set_plan_message(approval_id, None)


class Turns:
    """Taps on one approval take turns; each approval's lock lives only while a tap holds or
    awaits it, so decided approvals leave nothing behind however long the bot runs."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._taps: dict[str, int] = {}  # taps holding or awaiting each lock

    def __len__(self) -> int:
        """How many approvals have a tap in progress."""
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def of(self, approval_id: str) -> AsyncIterator[None]:
        """Hold `approval_id`'s turn for the duration of the block."""
        lock = self._locks.setdefault(approval_id, asyncio.Lock())
        self._taps[approval_id] = self._taps.get(approval_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._taps[approval_id] -= 1
            if self._taps[approval_id] == 0:
                del self._taps[approval_id], self._locks[approval_id]


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
                             note="This plan still waits for your decision.")
            message = await send_view(context.bot, chat, view)
            await self.plan_messages.remember(approval.id,
                                              MessageRef(chat, message.message_id))
        elif approval is None and proposal.plan is not None and proposal.plan.is_empty:
            await send_view(context.bot, chat, empty_plan_view(proposal.plan, self.quote))
        elif approval is None:
            await send_view(context.bot, chat, notice_view(_sentence(proposal.message)))

    async def signals(self, update: Update, context: Context) -> None:
        """/signals: each asset's signal with the strategies' votes."""
        current = self.editor.current

        async def view() -> View:
            return signals_view(await self.service.signals(), current.timeframe, current.signal)

        await self._answer(update, context, view)

    async def history(self, update: Update, context: Context) -> None:
        """/history: recent trades and plans."""

        async def view() -> View:
            return history_view(await self.service.history())

        await self._answer(update, context, view)

    async def status(self, update: Update, context: Context) -> None:
        """/status: mode, exchange, last scan, next plan, errors."""

        async def view() -> View:
            return status_view(await self.service.status(), self.service.clock())

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
        """/settings: show them; `/settings NAME VALUE` changes one, validated as at start-up."""
        args = list(context.args or [])
        if not args:
            await self._reply(update, context, settings_view(self.editor.shown(),
                                                             sources=self.editor.sources()))
            return
        if len(args) != 2:
            await self._reply(update, context, notice_view(
                "Usage: /settings NAME VALUE, e.g. /settings min_cash 0.22"))
            return
        try:
            await self.editor.change(args[0], args[1])
        except SettingsError as error:
            await self._reply(update, context, notice_view(f"❌ Not changed: {error}"))
            return
        await self._reply(update, context, settings_view(self.editor.shown(), changed=args[0],
                                                         sources=self.editor.sources()))
        if self.editor.note:
            await self._reply(update, context, notice_view(self.editor.note))
        warning = await self._asset_warning(args[0].strip().lower())
        if warning is not None:
            await self._reply(update, context, notice_view(warning))

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
                seen = (await self.service.portfolio()).portfolio
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

    # -- buttons -----------------------------------------------------------------------------

    async def button(self, update: Update, context: Context) -> None:
        """A button press: answer it at once, then act on a well-formed payload only."""
        query = update.callback_query
        if query is None:
            return
        press = decode(query.data)
        await query.answer()
        if press is None:
            log.warning("ignored a button press with malformed data (update %s)",
                        update.update_id)
            return
        if press.action in (Action.CHART_ALLOCATION, Action.CHART_VALUE):
            await self._send_chart(_chat_id(update), context, press.action)
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
            if press.action is Action.REJECT:
                decision = await self.service.reject(approval_id, by)
            else:
                waiting = {a.id for a in await self.service.pending()}
                if approval_id in waiting and where is not None:
                    await edit_view(context.bot, where, executing_view(approval_id))
                decision = await self.service.approve(approval_id, by)
            log.info("plan %s: %s", approval_id, decision.message)
            if not decision.ok and where is not None:
                view = refusal_view(decision)
                if view is not None:
                    await edit_view(context.bot, where, view)

    # -- helpers -----------------------------------------------------------------------------

    async def _send_chart(self, chat: int, context: Context, which: Action) -> None:
        await context.bot.send_chat_action(chat, ChatAction.UPLOAD_PHOTO)
        try:
            if which is Action.CHART_VALUE:
                history = await self.service.history()
                points = [ValuePoint(s.at, s.total_value, s.cash_value)
                          for s in history.snapshots]
                png = await asyncio.to_thread(value_chart, points, self.quote)
                caption = f"📈 Value over time ({len(points)} snapshots)"
            else:
                seen = await self.service.portfolio()
                png = await asyncio.to_thread(allocation_chart, seen.portfolio,
                                              self.editor.current.policy)
                caption = (f"📊 {money(seen.portfolio.total_value)} {esc(self.quote)} · "
                           f"cash {pct(seen.portfolio.cash_allocation)}")
        except ServiceError as error:
            await send_view(context.bot, chat, notice_view(f"⚠️ {error}"))
            return
        await send_picture(context.bot, chat, png, caption)

    async def _answer(
        self, update: Update, context: Context, make: Callable[[], Awaitable[View]]
    ) -> None:
        try:
            view = await make()
        except ServiceError as error:
            view = notice_view(f"⚠️ {_sentence(str(error))}")
        await self._reply(update, context, view)

    async def _reply(self, update: Update, context: Context, view: View) -> None:
        await send_view(context.bot, _chat_id(update), view)


def refusal_view(decision: Decision) -> View | None:
    """What a plan message should say after a tap that did not execute, or None to leave it.

    Results and re-proposals arrive as events and edit the message themselves; an unknown id
    (a forged or foreign button) changes nothing.
    """
    state = decision.state
    if state is None:
        return None
    if state in (ApprovalState.EXPIRED, ApprovalState.REJECTED):
        return closed_view(decision.approval_id, state.value, _sentence(decision.message))
    if state is ApprovalState.SUPERSEDED and decision.new_approval_id is None:
        return closed_view(decision.approval_id, state.value, _sentence(decision.message))
    if state is ApprovalState.PENDING:
        return refused_view(_sentence(decision.message))
    return None


def _chat_id(update: Update) -> int:
    chat = update.effective_chat
    if chat is None:
        raise ValueError(f"update {update.update_id} has no chat to answer in")
    return chat.id


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")

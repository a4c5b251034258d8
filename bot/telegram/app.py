"""The Telegram front-end: the python-telegram-bot Application, the owner gate, the alert pump.

Wiring lives here and only here: handlers get the engine service through `Handlers`, never
through `bot_data`. The bot and the engine share one event loop; the engine's events are pumped
into the chat by a plain task started in `start()` and cancelled in `stop()` (not through
`Application.create_task`, which `Application.stop()` would wait for forever).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import tzinfo
from typing import Any

from telegram import BotCommand, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    Updater,
    filters,
)

from bot.telegram.alerts import AlertFilter
from bot.telegram.delivery import MessageRef, PatientRateLimiter, edit_view, send_view
from bot.telegram.handlers import Handlers
from bot.telegram.in_turn import in_turn
from bot.telegram.letters import letter_view
from bot.telegram.outage import Outage, QuietNetworkErrors, WatchedRequest, polling_error
from bot.telegram.outcomes import Outcome, decided_view, outcome_lines, snooze_buttons
from bot.telegram.plan_messages import PlanMessages
from bot.telegram.reports import COMMANDS
from bot.telegram.settings_edit import Apply, SettingsEditor
from bot.telegram.views import View, notice_view
from core.config.settings import AlertLevel, Settings, SettingsError
from core.domain.moments import owner_zone
from core.engine.events import (
    ApprovalClosed,
    ExecutionFailed,
    PlanExecuted,
    PlanProposed,
    Subscription,
)
from core.engine.service import EngineService
from core.ops.alert_levels import is_message, level_of
from core.ops.outbox import Letter
from core.runtime.logs import redact
from core.storage.chat_settings import SettingsLedger

log = logging.getLogger(__name__)

REFUSAL = "Sorry, this is a private bot."
PRIVATE_ONLY = ("Ballast answers only in your private chat with it, never in a group or "
                "channel: nothing was done. Send the command here.")
# Only what the handlers use: no edited messages, polls, chat member updates …
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


class HideUpdateContents(logging.Filter):
    """Drops python-telegram-bot's DEBUG lines that print whole updates.

    Those carry what a stranger wrote, which must never reach the logs (only who, not what).
    """

    LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Application")
    _TEMPLATES = frozenset({"Processing update %s", "Dropping pending update: %s"})
    _RESULT = "Call to Bot API endpoint `%s` finished with return value `%s`"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in self._TEMPLATES:
            return False
        args = record.args
        return not (record.msg == self._RESULT and isinstance(args, tuple) and args
                    and args[0] == "getUpdates")

    @classmethod
    def install(cls) -> None:
        """Attach the filter to python-telegram-bot's loggers (once)."""
        for name in cls.LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, cls) for f in logger.filters):
                logger.addFilter(cls())


def api_urls(api_url: str) -> tuple[str, str]:
    """`base_url` and `base_file_url` for a Bot API server given by BALLAST_TELEGRAM_API_URL.

    Accepts the server root (`http://host:8081`) or its bot prefix (`http://host:8081/bot`).
    """
    root = api_url.rstrip("/").removesuffix("/bot")
    return f"{root}/bot", f"{root}/file/bot"


class TelegramBot:
    """Ballast in Telegram for one owner: commands, approval buttons, alerts and charts."""

    def __init__(
        self,
        settings: Settings,
        service: EngineService,
        apply_settings: Apply,
        *,
        rate_limiter: PatientRateLimiter | None = None,
        poll_timeout: int = 10,
        pump_events: bool = True,
        ledger: SettingsLedger | None = None,
    ) -> None:
        if settings.telegram_token is None:
            raise SettingsError("telegram_token: not set (BALLAST_TELEGRAM_TOKEN)")
        if settings.telegram_owner_id is None:
            raise SettingsError(
                "telegram_owner_id: not set (BALLAST_TELEGRAM_OWNER_ID): without it nobody "
                "could use the bot"
            )
        HideUpdateContents.install()
        QuietNetworkErrors.install()
        self._token = settings.telegram_token.get_secret_value()
        self.owner_id = settings.telegram_owner_id
        # Every request reports to one outage: logged once when Telegram stops answering.
        self.outage = Outage(self.redact)
        limiter = rate_limiter or PatientRateLimiter()
        limiter.outage = self.outage
        self.outage.on_token_refused = lambda: service.hold_planning(
            "Telegram refused the bot token")
        self.service = service
        self.editor = SettingsEditor(settings, apply_settings, ledger)
        self.plan_messages = PlanMessages(service)
        self.alerts = AlertFilter()
        self.poll_timeout = poll_timeout
        # False when a courier (core.ops.outbox) hands events to `deliver` instead.
        self.pump_events = pump_events
        builder = (
            ApplicationBuilder()
            .token(self._token)
            .rate_limiter(limiter)
            .concurrent_updates(True)
            .request(WatchedRequest(self.outage, connection_pool_size=256))
            .get_updates_request(WatchedRequest(self.outage, connection_pool_size=1))
        )
        if settings.telegram_api_url:
            base_url, base_file_url = api_urls(settings.telegram_api_url)
            builder = builder.base_url(base_url).base_file_url(base_file_url)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.handlers = Handlers(service, self.editor, self.plan_messages)
        self._register()
        self._subscription: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None
        self._stopping: asyncio.Future[None] | None = None
        # Group chats the owner was already told to use the private chat from (once each).
        self._told_elsewhere: set[int] = set()

    def _register(self) -> None:
        app = self.application
        # Group -1 runs before every other handler: strangers stop here, whatever they send.
        app.add_handler(TypeHandler(Update, self._owner_gate), group=-1)
        h = self.handlers
        commands = {
            "start": h.start, "help": h.help, "portfolio": h.portfolio, "plan": h.plan,
            "signals": h.signals, "history": h.history, "pause": h.pause, "resume": h.resume,
            "status": h.status, "settings": h.settings, "chart": h.chart, "profit": h.profit,
        }
        # Typed commands and texts take turns: a quick /help sent after a /portfolio still
        # scanning is answered after it. PTB 22's concurrent_updates starts one task per update
        # in arrival order (Application's update fetcher) and nothing before a callback yields
        # for the owner, so the lock's FIFO queue is the arrival order. Buttons stay outside:
        # Approve acts while a slow command runs. No handler waits for a button or a command.
        turn = asyncio.Lock()
        for name, callback in commands.items():
            app.add_handler(CommandHandler(name, in_turn(turn, callback)))
        app.add_handler(CallbackQueryHandler(h.button))
        # Last in the group: whatever no command above took (/foo, "hello") gets an answer.
        app.add_handler(MessageHandler(filters.COMMAND | filters.TEXT, in_turn(turn, h.unknown)))
        app.add_error_handler(self._on_error)

    # -- the owner gate ----------------------------------------------------------------------

    async def _owner_gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        query = update.callback_query
        chat = update.effective_chat
        from_owner = user is not None and user.id == self.owner_id and (
            query is None or query.from_user.id == self.owner_id
        )
        if from_owner and chat is not None and chat.type == ChatType.PRIVATE \
                and chat.id == self.owner_id:
            return
        if from_owner:
            # The owner, but in a group, supergroup or channel (or on a message we cannot
            # place): whatever is shown there is seen by others, and a button there may be a
            # forwarded copy. Nothing is answered or executed outside the private chat.
            await self._elsewhere(update, context)
            raise ApplicationHandlerStop
        # Who, not what: a stranger's text never reaches the logs.
        log.warning("refused update %s from user %s", update.update_id,
                    user.id if user is not None else "unknown")
        try:
            if query is not None:
                await query.answer(REFUSAL)
            elif chat is not None and chat.type == ChatType.PRIVATE:
                await context.bot.send_message(chat.id, REFUSAL)
        except TelegramError as error:
            log.info("could not send the refusal: %s", type(error).__name__)
        raise ApplicationHandlerStop

    async def _elsewhere(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The owner wrote or pressed a button outside the private chat: say where to go.

        A button press gets the note as its answer (only the presser sees it). A message gets
        it once per chat, in the owner's private chat rather than the group, so the group
        learns nothing; Telegram may refuse that if the owner never opened the private chat.
        """
        chat = update.effective_chat
        where = f"{chat.type} chat {chat.id}" if chat is not None else "an unknown chat"
        log.warning("ignored update %s from the owner in %s: Ballast answers only in the "
                    "private chat", update.update_id, where)
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(PRIVATE_ONLY, show_alert=True)
            elif chat is not None and chat.id not in self._told_elsewhere:
                self._told_elsewhere.add(chat.id)
                await context.bot.send_message(self.owner_id, PRIVATE_ONLY)
        except TelegramError as error:
            log.info("could not send the private-chat note: %s", type(error).__name__)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        text = self.redact(str(error))
        # Log handlers scrub secrets (core.runtime.logs); the owner's message is redacted here.
        log.error("handling update failed: %s", type(error).__name__, exc_info=error)
        if (
            isinstance(update, Update)
            and update.effective_user is not None
            and update.effective_user.id == self.owner_id
            and update.effective_chat is not None
        ):
            with contextlib.suppress(TelegramError):
                await send_view(context.bot, update.effective_chat.id,
                                notice_view(f"⚠️ That did not work: {text}"))

    def redact(self, text: str) -> str:
        """`text` with the bot token blanked out (error messages may quote request URLs)."""
        return redact(text, [self._token], "<token>")

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, register the command menu, start the alert pump and poll for updates."""
        app = self.application
        self.outage.carry_on()  # a start after a failed one (and its stop) tries for real
        if self.pump_events:
            self._subscription = self.service.subscribe()
        await app.initialize()
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
        if self._subscription is not None:
            self._pump = asyncio.create_task(self._pump_events(self._subscription),
                                             name="telegram-alerts")
        await app.start()
        if app.updater is None:
            raise RuntimeError("the Telegram application was built without an updater")
        await app.updater.start_polling(timeout=self.poll_timeout,
                                        allowed_updates=ALLOWED_UPDATES,
                                        error_callback=polling_error(self.outage))

    async def announce(self, view: View) -> None:
        """Send a notice to the owner (start-up, shutdown)."""
        await send_view(self.application.bot, self.owner_id, view)

    async def stop(self, farewell: View | None = None) -> None:
        """Stop polling, finish the handlers in flight, stop the pump, say `farewell` (the
        stop notice), close connections.

        A shutdown is seen through even if the caller is cancelled meanwhile (a process
        stopping on SIGTERM cancels its tasks, maybe twice): the cancellation is let through
        only once the handlers have finished and the last updates were acknowledged.
        """
        if self._stopping is None or self._stopping.done():
            self._stopping = asyncio.ensure_future(self._stop(farewell))
        stopping = self._stopping
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError:
            while not stopping.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(stopping)
            raise

    async def _stop(self, farewell: View | None) -> None:
        app = self.application
        self.outage.give_up()
        if app.updater is not None and app.updater.running:
            await _stop_updater(app.updater)
        if farewell is not None and app.running:
            try:
                async with asyncio.timeout(FAREWELL_WAIT):
                    await self.announce(farewell)
            except (TelegramError, TimeoutError) as error:
                log.info("could not say that Ballast stops: %s", type(error).__name__)
        if app.running:
            await app.stop()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._subscription is not None:
            self.service.bus.unsubscribe(self._subscription)
            self._subscription = None
        await app.shutdown()

    # -- alerts ------------------------------------------------------------------------------

    async def _pump_events(self, subscription: Subscription) -> None:
        async for event in subscription:
            try:
                await self.deliver(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not deliver a %s alert", type(event).__name__)

    async def deliver(self, letter: Letter) -> None:
        """Turn one letter (engine event, daily summary, watchdog alert) into a chat message,
        or into an edit of the plan's own message.

        Raises when Telegram cannot be reached, so that a courier (`core.ops.outbox`) tries the same
        letter again later; a letter counts as said only once its message went out.
        """
        settings = self.editor.current
        zone = owner_zone(settings.timezone)
        bot = self.application.bot
        level = level_of(letter, settings)
        reply_to: int | None = None
        if isinstance(letter, PlanExecuted | ExecutionFailed | ApprovalClosed):
            where = await self.plan_messages.find(letter.approval_id)
            if where is not None:
                # The plan's own message keeps its lines and shows the outcome under them. An
                # edit never rings, so money that moved is reported in a reply as well.
                await edit_view(bot, where, await self._decided(letter, settings.quote, zone))
                await self.plan_messages.forget(letter.approval_id)
                reply_to = where.message_id
            if isinstance(letter, ApprovalClosed):
                return  # a plan nobody is looking at closed: not worth a notification
        if not is_message(level):
            return  # the daily summary tells of it, or nobody asked to hear of it
        if not self.alerts.is_new(letter):
            return
        view = letter_view(letter, settings.quote, zone)
        if view is None:
            return
        message = await send_view(bot, self.owner_id, view, silent=level is AlertLevel.SILENT,
                                  reply_to=reply_to)
        self.alerts.remember(letter)
        if isinstance(letter, PlanProposed):
            await self.plan_messages.remember(letter.approval_id,
                                        MessageRef(self.owner_id, message.message_id))


    async def _decided(self, letter: Outcome, quote: str, zone: tzinfo) -> View:
        """The plan's message once decided: its lines, the outcome under them."""
        approval = await self.service.approval(letter.approval_id)
        rejected = isinstance(letter, ApprovalClosed) and letter.snoozed_until is not None
        if approval is None:  # a database without the plan: the outcome alone
            return View("\n".join(outcome_lines(letter, quote, zone)))
        return decided_view(approval, outcome_lines(letter, quote, zone), quote, zone,
                            snooze_buttons(approval.id) if rejected else None)


# How long the Updater may take to stop before its polling task is cancelled.
UPDATER_GRACE = 1.0


async def _stop_updater(updater: Updater) -> None:
    """Stop polling, without waiting out python-telegram-bot's back-off.

    After failed polls the Updater sleeps (up to 30 s) before it looks at its stop flag, so
    during an outage `Updater.stop()` could take that long. Past a short grace its polling
    task (a private attribute: if a release renames it, stopping is merely slower) is
    cancelled; `stop()` expects that and still acknowledges the updates it fetched.
    """
    stopping = asyncio.ensure_future(updater.stop())
    done, _ = await asyncio.wait({stopping}, timeout=UPDATER_GRACE)
    if not done:
        polling = getattr(updater, "_Updater__polling_task", None)
        if isinstance(polling, asyncio.Task):
            log.info("Telegram polling is waiting out a back-off; cancelling it to stop")
            polling.cancel()
    await stopping


# How long the stop notice may take before Ballast stops without it.
FAREWELL_WAIT = 5.0

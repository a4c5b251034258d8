"""A Telegram Bot API stand-in: a small aiohttp server on 127.0.0.1 for end-to-end tests.

The real python-telegram-bot client talks to it over HTTP exactly as it would to
api.telegram.org (`POST /bot<token>/<method>`, form-encoded or multipart bodies). It keeps the
chat state a test needs to look at (every call, every message and its latest text/buttons),
queues updates that tests inject (commands, button presses) for `getUpdates` long polls, and can
answer the next calls with 429 (`parameters.retry_after`) or 5xx.

Tests wait for what they expect with `wait_for(...)`, which wakes on each new call and gives up
after a timeout — never on a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable

from aiohttp import web

from bot.telegram.format import visible
from tests.standins.telegram_wire import (
    JSON,
    POLLING_METHODS,
    ApiError,
    Call,
    Fault,
    SentMessage,
    check_buttons,
    error_response,
    frozen,
    read_params,
)


def sent_to(chat: int, text: str = "") -> Callable[[Call], bool]:
    """A `wait_for_method` predicate: a call to `chat` whose text or caption contains `text`."""
    def match(call: Call) -> bool:
        body = str(call.params.get("text") or call.params.get("caption") or "")
        return str(call.params.get("chat_id")) == str(chat) and text in body
    return match


def shown_to(chat: int, text: str) -> Callable[[Call], bool]:
    """A `wait_for_method` predicate: a message to `chat` whose visible text (markup removed)
    contains `text`."""
    def match(call: Call) -> bool:
        return str(call.params.get("chat_id")) == str(chat) and text in visible(
            str(call.params.get("text") or ""))
    return match


class TelegramStandIn:
    """A Bot API server for one bot; use `async with TelegramStandIn() as tg:`."""

    def __init__(
        self,
        token: str = "123456:TEST-token",
        bot_id: int = 123456,
        bot_username: str = "ballast_test_bot",
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], SentMessage] = {}
        self.commands: list[JSON] = []
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._faults: list[Fault] = []
        self._outage = False
        self._outage_status = 502
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.polls_waiting = 0

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Answer held long polls and close the server."""
        self._closing.set()
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What to pass as `ApplicationBuilder().base_url(...)` / BALLAST_TELEGRAM_API_URL."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- injecting what the user does ---------------------------------------------------------

    def user(self, user_id: int, first_name: str = "Owner") -> JSON:
        return {"id": user_id, "is_bot": False, "first_name": first_name}

    def push_text(
        self, user_id: int, text: str, chat_id: int | None = None, chat_type: str = "private"
    ) -> JSON:
        """Queue a message from `user_id` (a command when it starts with '/') in a chat of
        `chat_type` (`private`, `group`, `supergroup` or `channel`)."""
        chat = chat_id if chat_id is not None else user_id
        message: JSON = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": _chat(chat, chat_type),
            "from": self.user(user_id),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._queue({"message": message})

    def push_command(
        self, user_id: int, command: str, chat_id: int | None = None, chat_type: str = "private"
    ) -> JSON:
        """Queue `/command` (with or without the slash) from `user_id`."""
        text = command if command.startswith("/") else f"/{command}"
        return self.push_text(user_id, text, chat_id, chat_type)

    def push_callback(
        self,
        user_id: int,
        data: str,
        message_id: int | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
    ) -> str:
        """Queue a button press with `data` on a bot message in a chat of `chat_type`; returns
        the callback query id."""
        chat = chat_id if chat_id is not None else user_id
        sent = self.messages.get((chat, message_id)) if message_id is not None else None
        message: JSON = {
            "message_id": message_id if message_id is not None else next(self._message_ids),
            "date": int(time.time()),
            "chat": _chat(chat, chat_type),
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Ballast",
                     "username": self.bot_username},
            "text": sent.text if sent is not None and sent.text else "plan",
        }
        query_id = str(next(self._callback_ids))
        self._queue({"callback_query": {
            "id": query_id,
            "from": self.user(user_id),
            "chat_instance": f"ci-{chat}",
            "data": data,
            "message": message,
        }})
        return query_id

    def press_button(
        self,
        user_id: int,
        message: SentMessage,
        text_contains: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
    ) -> str:
        """Press the button on `message` whose label contains `text_contains`; with `chat_id`
        and `chat_type`, as if that message had been shown in that chat (a forwarded copy of
        the plan in a group, say)."""
        for row in (message.reply_markup or {}).get("inline_keyboard", []):
            for button in row:
                if text_contains in button.get("text", "") and "callback_data" in button:
                    return self.push_callback(
                        user_id, button["callback_data"], message.message_id,
                        chat_id if chat_id is not None else message.chat_id, chat_type,
                    )
        raise LookupError(f"no button containing {text_contains!r} on message "
                          f"{message.message_id}")

    def _queue(self, body: JSON) -> JSON:
        update = {"update_id": next(self._update_ids), **body}
        self._updates.append(update)
        self._notify_soon()
        return update

    def _notify_soon(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    # -- fault injection ----------------------------------------------------------------------

    def fail_next(
        self, count: int = 1, status: int = 502, methods: set[str] | None = None
    ) -> None:
        """Answer the next `count` calls (of `methods`, default all but polling) with `status`."""
        self._faults.append(Fault(status, count, None, frozen(methods)))

    def rate_limit_next(
        self, count: int = 1, retry_after: int = 1, methods: set[str] | None = None
    ) -> None:
        """Answer the next `count` calls with 429 Too Many Requests and `retry_after` seconds."""
        self._faults.append(Fault(429, count, retry_after, frozen(methods)))

    def go_down(self, status: int = 502) -> None:
        """An outage: every call, polls included, is answered `status` until `heal()` — the
        long polls already waiting too, at once, as when a connection drops."""
        self._faults.append(Fault(status, 10**9, None, None))
        self._outage = True
        self._outage_status = status
        self._notify_soon()

    def heal(self) -> None:
        """End every fault still pending: calls are answered normally again."""
        for fault in self._faults:
            fault.remaining = 0
        self._outage = False

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.methods is not None:
                applies = method in fault.methods
            else:  # polls fail only in an outage (`go_down`)
                applies = self._outage or method not in POLLING_METHODS
            if applies and fault.remaining > 0:
                fault.remaining -= 1
                return fault
        return None

    # -- looking at what the bot did ----------------------------------------------------------

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[Call]:
        """Calls of `method` so far (by default only those answered 200)."""
        return [c for c in self.calls if c.method == method and (c.ok or not ok_only)]

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot has sent to `chat_id`, oldest first, as they now read."""
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id]

    async def wait_for(
        self, predicate: Callable[[Call], bool], timeout: float = 5.0, *, after: int = 0
    ) -> Call:
        """The first successful call (from index `after` on) matching `predicate`; waits for it."""
        checked = after

        def found() -> Call | None:
            nonlocal checked
            while checked < len(self.calls):
                call = self.calls[checked]
                checked += 1
                if call.ok and predicate(call):
                    return call
            return None

        async with asyncio.timeout(timeout):
            async with self._changed:
                while True:
                    call = found()
                    if call is not None:
                        return call
                    await self._changed.wait()

    async def wait_for_method(
        self,
        method: str,
        where: Callable[[Call], bool] = lambda _c: True,
        timeout: float = 5.0,
        *,
        after: int = 0,
    ) -> Call:
        """The first successful call of `method` matching `where` (from index `after` on)."""
        return await self.wait_for(lambda c: c.method == method and where(c), timeout,
                                   after=after)

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `condition()` holds, re-checking after every call the stand-in receives."""
        async with asyncio.timeout(timeout), self._changed:
            while not condition():
                await self._changed.wait()

    # -- the HTTP side ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return error_response(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await read_params(request)
        fault = self._take_fault(method)
        if fault is not None:
            await self._record(Call(method, params, fault.status, time.monotonic(), files))
            if fault.retry_after is not None:
                return error_response(429, f"Too Many Requests: retry after {fault.retry_after}",
                              {"retry_after": fault.retry_after})
            return error_response(fault.status, "Bad Gateway")
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            await self._record(Call(method, params, 404, time.monotonic(), files))
            return error_response(404, "Not Found: method not found")
        try:
            result = await handler(params, files)
            if self._outage:  # went down while this call waited (a long poll)
                raise ApiError(self._outage_status, "Bad Gateway")
        except ApiError as error:
            await self._record(Call(method, params, error.status, time.monotonic(), files))
            return error_response(error.status, error.description)
        await self._record(Call(method, params, 200, time.monotonic(), files))
        return web.json_response({"ok": True, "result": result})

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    async def _api_getMe(self, params: JSON, files: dict[str, bytes]) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Ballast",
                "username": self.bot_username}

    async def _api_deleteWebhook(self, params: JSON, files: dict[str, bytes]) -> bool:
        return True

    async def _api_getUpdates(self, params: JSON, files: dict[str, bytes]) -> list[JSON]:
        offset = int(params.get("offset") or 0)
        if offset:
            # Telegram forgets every update before the offset once it is asked for it.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if not self._updates and timeout > 0 and not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout), self._changed:
                    self.polls_waiting += 1
                    self._changed.notify_all()
                    try:
                        while not self._updates and not self._closing.is_set() \
                                and not self._outage:
                            await self._changed.wait()
                    finally:
                        self.polls_waiting -= 1
        return self._updates[:limit]

    async def _api_setMyCommands(self, params: JSON, files: dict[str, bytes]) -> bool:
        self.commands = list(params.get("commands") or [])
        return True

    async def _api_getMyCommands(self, params: JSON, files: dict[str, bytes]) -> list[JSON]:
        return self.commands

    async def _api_sendChatAction(self, params: JSON, files: dict[str, bytes]) -> bool:
        return True

    async def _api_answerCallbackQuery(self, params: JSON, files: dict[str, bytes]) -> bool:
        return True

    async def _api_sendMessage(self, params: JSON, files: dict[str, bytes]) -> JSON:
        text = str(params.get("text") or "")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        check_buttons(params.get("reply_markup"))
        chat_id = int(params["chat_id"])
        sent = SentMessage(chat_id, next(self._message_ids), text, params.get("reply_markup"))
        self.messages[(chat_id, sent.message_id)] = sent
        return self._message_json(sent)

    async def _api_sendPhoto(self, params: JSON, files: dict[str, bytes]) -> JSON:
        photo = files.get("photo")
        if photo is None:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        check_buttons(params.get("reply_markup"))
        chat_id = int(params["chat_id"])
        sent = SentMessage(chat_id, next(self._message_ids), None, params.get("reply_markup"),
                           photo=photo, caption=caption)
        self.messages[(chat_id, sent.message_id)] = sent
        return self._message_json(sent)

    async def _api_editMessageText(self, params: JSON, files: dict[str, bytes]) -> JSON:
        sent = self._find(params)
        text = str(params.get("text") or "")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        markup = params.get("reply_markup")
        if text == sent.text and markup == sent.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified")
        check_buttons(markup)
        sent.text = text
        sent.reply_markup = markup
        sent.edits += 1
        return self._message_json(sent)

    async def _api_editMessageReplyMarkup(self, params: JSON, files: dict[str, bytes]) -> JSON:
        sent = self._find(params)
        markup = params.get("reply_markup")
        check_buttons(markup)
        sent.reply_markup = markup
        sent.edits += 1
        return self._message_json(sent)

    def _find(self, params: JSON) -> SentMessage:
        key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        sent = self.messages.get(key)
        if sent is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return sent

    def _message_json(self, sent: SentMessage) -> JSON:
        body: JSON = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": sent.chat_id, "type": "private"},
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Ballast",
                     "username": self.bot_username},
        }
        if sent.text is not None:
            body["text"] = sent.text
        if sent.photo is not None:
            body["photo"] = [{"file_id": f"photo-{sent.message_id}",
                              "file_unique_id": f"u{sent.message_id}",
                              "width": 800, "height": 500}]
        if sent.caption is not None:
            body["caption"] = sent.caption
        if sent.reply_markup:
            body["reply_markup"] = sent.reply_markup
        return body


def _chat(chat_id: int, chat_type: str) -> JSON:
    """A Bot API `Chat`: private chats carry a first name, the others a title."""
    if chat_type == "private":
        return {"id": chat_id, "type": "private", "first_name": "Owner"}
    return {"id": chat_id, "type": chat_type, "title": f"A {chat_type}"}

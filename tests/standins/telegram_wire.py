"""The wire side of the Telegram stand-in: recorded calls, chat messages, request parsing,
and the errors the real Bot API answers with."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSON = dict[str, Any]

# Parameters python-telegram-bot JSON-encodes into a form field; decoded here for assertions.
_JSON_PARAMS = frozenset(
    {"reply_markup", "commands", "entities", "caption_entities", "allowed_updates",
     "link_preview_options", "reply_parameters", "scope"}
)
# Methods fault injection never touches unless asked: breaking them only stalls polling.
POLLING_METHODS = frozenset({"getMe", "deleteWebhook", "getUpdates"})


@dataclass
class Call:
    """One request the stand-in received, with its decoded parameters and how it was answered."""

    method: str
    params: JSON
    status: int
    at: float
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class SentMessage:
    """A message the bot sent, as it currently reads in the chat (edits applied)."""

    chat_id: int
    message_id: int
    text: str | None
    reply_markup: JSON | None
    photo: bytes | None = None
    caption: str | None = None
    edits: int = 0


@dataclass
class Fault:
    status: int
    remaining: int
    retry_after: int | None
    methods: frozenset[str] | None


class ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def frozen(methods: set[str] | None) -> frozenset[str] | None:
    return frozenset(methods) if methods is not None else None


def error_response(status: int, description: str, parameters: JSON | None = None) -> web.Response:
    body: JSON = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def check_buttons(markup: Any) -> None:
    """Refuse what the real server refuses: callback data outside 1–64 bytes."""
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


async def read_params(request: web.Request) -> tuple[JSON, dict[str, bytes]]:
    params: JSON = {}
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        params = dict(await request.json())
    elif request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = value.file.read()
            else:
                params[key] = str(value)
    params.update({k: v for k, v in request.query.items() if k not in params})
    for key in _JSON_PARAMS & params.keys():
        if isinstance(params[key], str):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(params[key])
    return params, files

"""/chart and the chart buttons: fetch what the chart shows, draw it off the event loop, send
it; or, until the value history is long enough, say so instead of sending an empty plot."""

from __future__ import annotations

import asyncio

from telegram import Bot
from telegram.constants import ChatAction

from bot.telegram.callbacks import Action
from bot.telegram.charts import MIN_VALUE_POINTS, ValuePoint, allocation_chart, value_chart
from bot.telegram.delivery import send_picture, send_view
from bot.telegram.format import duration, esc, money, pct
from bot.telegram.views import notice_view
from core.config.settings import Settings
from core.engine.service import EngineService, ServiceError


async def send_chart(
    bot: Bot, chat: int, which: Action, service: EngineService, settings: Settings
) -> None:
    """The allocation chart, or the value chart (`which`), as a picture in `chat`."""
    await bot.send_chat_action(chat, ChatAction.UPLOAD_PHOTO)
    quote = settings.quote
    try:
        if which is Action.CHART_VALUE:
            history = await service.value_history()
            points = [ValuePoint(s.at, s.total_value, s.cash_value, holding)
                      for s, holding in zip(history.snapshots, history.holding, strict=True)]
            if len(points) < MIN_VALUE_POINTS:
                await send_view(bot, chat, notice_view(
                    too_early(len(points), settings.rebalance_interval)))
                return
            png = await asyncio.to_thread(value_chart, points, quote, history.buys,
                                          history.sells)
            caption = f"📈 Value over time ({len(points)} snapshots)"
        else:
            portfolio = (await service.current_scan()).portfolio
            png = await asyncio.to_thread(allocation_chart, portfolio, settings.policy)
            caption = (f"📊 {money(portfolio.total_value)} {esc(quote)} · "
                       f"cash {pct(portfolio.cash_allocation)}")
    except ServiceError as error:
        await send_view(bot, chat, notice_view(f"⚠️ {error}"))
        return
    await send_picture(bot, chat, png, caption)


def too_early(count: int, every: int) -> str:
    """Why there is no value chart yet, and when there will be one."""
    have = "no snapshot" if count == 0 else "1 snapshot" if count == 1 else f"{count} snapshots"
    wait = duration((MIN_VALUE_POINTS - count) * every)
    return (f"📈 No value chart yet: {have} so far, one every {duration(every)}. The chart "
            f"starts at {MIN_VALUE_POINTS}, in about {wait}.")

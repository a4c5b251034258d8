"""Small text and JSON helpers of the engine: execution summaries, and what scans remember across
a restart in `engine_state` — the last signals and the sanity gate's reference."""

from __future__ import annotations

from core.domain.models import SignalKind
from core.domain.reference import Reference, Snapshot
from core.engine.outcomes import ExecutionReport
from core.storage.stored_json import StoredJson, StoredJsonError

# The signals of the last scan, asset → kind, in `engine_state`.
_SIGNALS_JSON = StoredJson(dict[str, SignalKind], "last scan's signals")
# The scan the sanity gate accepted last (`core.domain.reference.Snapshot`), as Ballast kept it
# before the gate had a reference: read once on upgrade.
_SANE_SNAPSHOT_JSON = StoredJson(Snapshot, "last sane snapshot")
# The sanity gate's reference (`core.domain.reference.Reference`), in `engine_state`.
_REFERENCE_JSON = StoredJson(Reference, "sanity gate reference")


def execution_message(approval_id: str, report: ExecutionReport) -> str:
    """One line on how an approved plan's execution went."""
    if not report.finished:
        waiting = [r for r in report.results if r.state in ("planned", "sending", "open")]
        return (
            f"plan {approval_id} is executing: {len(waiting)} order(s) wait for the exchange; "
            "Ballast will finish them by asking the exchange, never by sending twice"
        )
    parts = []
    for result in report.results:
        done = f"{result.side} {result.filled} {result.asset}"
        if result.average_price is not None and result.filled > 0:
            done += f" @ {result.average_price}"
        if result.state != "filled":
            done += f" ({result.state}{': ' + result.detail if result.detail else ''})"
        parts.append(done)
    return f"plan {approval_id} {report.state}: " + "; ".join(parts)


def signals_to_json(signals: dict[str, SignalKind]) -> str:
    """Remember each asset's signal (so a restart neither repeats nor misses a change)."""
    return _SIGNALS_JSON.dump(dict(sorted(signals.items())))


def signals_from_json(text: str | None) -> dict[str, SignalKind]:
    """The inverse of `signals_to_json` (nothing stored: no signals)."""
    if not text:
        return {}
    return _SIGNALS_JSON.load(text)


def reference_to_json(reference: Reference) -> str:
    """The sanity gate's reference as JSON text, to compare with after a restart."""
    return _REFERENCE_JSON.dump(reference)


def reference_from_json(text: str | None) -> Reference | None:
    """The inverse of `reference_to_json`; None for nothing stored or text that does not read
    (the gate then takes the next sane scan as its reference: one comparison lost, no more)."""
    if not text:
        return None
    try:
        return _REFERENCE_JSON.load(text)
    except StoredJsonError:
        return None


def snapshot_from_json(text: str | None) -> Snapshot | None:
    """The last sane snapshot an earlier Ballast stored; None for nothing stored or text that
    does not read."""
    if not text:
        return None
    try:
        return _SANE_SNAPSHOT_JSON.load(text)
    except StoredJsonError:
        # Forgiving on purpose: without a reference the gate judges the next scan on its own and
        # remembers that one, so a damaged row costs one comparison, never the engine.
        return None

"""Hash families by name. PDQ is the primary signal: hash lists are exchanged in it and verdicts use it."""

from __future__ import annotations

from hashmatch.signals.base import SignalType, SignalValue
from hashmatch.signals.imagehash_signals import DHashSignal, PHashSignal
from hashmatch.signals.pdq import PdqSignal

PRIMARY_SIGNAL: type[SignalType] = PdqSignal
SIGNAL_TYPES: dict[str, type[SignalType]] = {
    signal.name: signal for signal in (PdqSignal, PHashSignal, DHashSignal)
}


def signal_type(name: str) -> type[SignalType]:
    try:
        return SIGNAL_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown signal type {name!r}; known: {', '.join(SIGNAL_TYPES)}") from None


__all__ = ["PRIMARY_SIGNAL", "SIGNAL_TYPES", "SignalType", "SignalValue", "PdqSignal", "PHashSignal", "DHashSignal", "signal_type"]

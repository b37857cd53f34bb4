"""The client of a configured exchange, by its kind (each imported only when used: each brings its part of python-threatexchange)."""

from __future__ import annotations

from hashmatch.exchanges.model import ExchangeClient, ExchangeConfig, ExchangeKind


def connect(config: ExchangeConfig, credentials: dict) -> ExchangeClient:
    """The client for `config`, with its credentials (the secret's JSON: TAT username and password, a ThreatExchange api_token, a list's headers)."""
    if config.kind is ExchangeKind.TAT:
        from hashmatch.exchanges.tat import TatExchange

        return TatExchange(config, credentials)
    if config.kind is ExchangeKind.THREATEXCHANGE:
        from hashmatch.exchanges.threatexchange import ThreatExchangeExchange

        return ThreatExchangeExchange(config, credentials)
    from hashmatch.exchanges.lists import ListExchange

    return ListExchange(config, credentials)

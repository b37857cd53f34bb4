"""Hash-sharing exchanges: the lists partners share, fetched incrementally from the exchange that shares them.

model.py names what an exchange is here (its configuration, a page of what it sent, the faults it
raises); tat.py, threatexchange.py and lists.py are the clients, over python-threatexchange's HTTP
clients (Tech Against Terrorism's hash list, Meta's ThreatExchange) and hashmatch's own list
formats (a list at a URL or path: anything else a partner publishes). The sync itself, what it
keeps and what it retries, is hashmatch.usecases.sync_exchanges; its DynamoDB side is
hashmatch.aws.exchanges. No numpy here: the sync function carries python-threatexchange without
its dependencies (functions/sync_exchanges/).
"""

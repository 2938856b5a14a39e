"""The ledger (one JSON Lines file per session: ledger/file.py), what it says in short (summary.py) and the
dashboard built from ledgers over time (dashboard.py). Read by pytest's ledger plugin, the baseline tool and CI."""

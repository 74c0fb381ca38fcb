"""Security events: the account's append-only history, its listing and its pruning."""

"""The table of ``make bench``: every row, and the service's ratios to the references in the same run."""

from __future__ import annotations

from bench.loads import COMPARED, LOGIN_CONNS, REFERENCES
from bench.measure import Row

_HEADER = (
    "| scenario | target | endpoint | conns | req/s | p50 ms | p99 ms | p99/p50 | errors | CPU µs/req "
    "| RSS MiB | x floor | x sync | x fastapi | |"
)
_ALIGN = (
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
)


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table; a service row carries its req/s over each reference's."""
    by_key = {(row.scenario, row.target, row.endpoint, row.conns): row for row in rows}
    lines = [_HEADER, _ALIGN]
    for row in rows:
        ratios = []
        for reference in REFERENCES:
            other = by_key.get((row.scenario, reference, row.endpoint, row.conns))
            ratios.append(_ratio(row, other) if row.target in ("service", *COMPARED) else "")
        note = "; ".join(part for part in (row.note or _note(row, by_key), row.error_kinds) if part)
        tail = None if not (row.p50_ms and row.p99_ms) else row.p99_ms / row.p50_ms
        lines.append(
            f"| {row.scenario} | {row.target} | {row.endpoint} | {row.conns} "
            f"| {_num(row.rps, 0 if (row.rps or 0) >= 100 else 1)} "
            f"| {_num(row.p50_ms, 1)} | {_num(row.p99_ms, 1)} | {_num(tail, 2)} | {row.errors} "
            f"| {_num(row.cpu_us, 0)} | {_num(row.rss_mb, 0)} | {' | '.join(ratios)} | {note} |"
        )
    return "\n".join(lines)


def _note(row: Row, by_key: dict[tuple[str, str, str, int], Row]) -> str:
    """What a row is beside the service: the baseline's and the cluster's ratios, login over bcrypt."""
    service = by_key.get((row.scenario, "service", row.endpoint, row.conns))
    if row.target in COMPARED and service is not None and row.rps and service.rps:
        cpu = ""
        if row.cpu_us is not None and service.cpu_us is not None:
            cpu = f"; service CPU {service.cpu_us - row.cpu_us:+,.0f} µs/req against it"
        return f"service / {row.target} = {service.rps / row.rps:.2f}{cpu}"
    if row.target == "bcrypt":
        login = by_key.get((row.scenario, "service", "POST /auth/login", LOGIN_CONNS))
        if login is not None and login.rps and row.rps:
            return f"{row.conns} processes; login / bcrypt = {login.rps / row.rps:.2f}"
    return ""


def _ratio(row: Row, other: Row | None) -> str:
    if other is None or not row.rps or not other.rps:
        return ""
    return f"{row.rps / other.rps:.2f}"


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"

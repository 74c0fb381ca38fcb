"""``python -m service <command>``: the operator commands of service/admin.py."""

from service.admin import cli

cli(prog_name="python -m service")

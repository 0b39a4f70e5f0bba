"""`python -m leases renew --stack dev --vm db --until 2027-05-31 --reason "..."` (`make renew`)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from leases.renew import RenewalError, renew_file

ROOT = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leases", description="VM leases kept in the stack files.")
    commands = parser.add_subparsers(dest="command", required=True)
    renew = commands.add_parser("renew", help="move a VM group's expires date, as a change to review")
    renew.add_argument("--stack", default="", help="the stack (Pulumi.<stack>.yaml)")
    renew.add_argument("--vm", default="", metavar="GROUP", help="the VM group's name (vms[].name)")
    renew.add_argument("--until", default="", metavar="YYYY-MM-DD", help="the new expiry date")
    renew.add_argument("--reason", default="", help="why the VMs must live longer (kept in the file)")
    arguments = parser.parse_args(argv)
    try:
        renewal = renew_file(ROOT, arguments.stack, arguments.vm, arguments.until, arguments.reason, dt.date.today())
    except RenewalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(renewal.diff(f"Pulumi.{arguments.stack}.yaml"), end="")
    print(
        f"==> {arguments.vm}: expires {renewal.previous} -> {renewal.until.isoformat()}; commit the change and open a "
        "pull request: its review shows the renewal",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

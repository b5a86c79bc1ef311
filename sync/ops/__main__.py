"""``python -m sync.ops``: operator commands, reading the same environment as the functions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sync import bootstrap
from sync.kernel.errors import SyncError

if TYPE_CHECKING:
    from sync.ops.dead_letters import DeadLetters


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sync.ops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser("import-connection", help="store an existing grant and make the connection active")
    imp.add_argument("--account-id", required=True)
    imp.add_argument("--user-id", required=True)
    imp.add_argument("--calendar-id", required=True)
    imp.add_argument("--refresh-token-file", required=True, type=Path,
                     help="a file holding the refresh token (never pass tokens on the command line)")
    imp.add_argument("--google-email")
    dead = commands.add_parser("dead-letters", help="list, show and replay dead-lettered changes or notifications")
    topic_help = "changes (default: $SYNC_TOPIC) or notifications ($SYNC_TOPIC-notifications)"
    dead.add_argument("--topic", dest="topic_before", choices=TOPICS, help=topic_help)
    verbs = dead.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="one line per dead letter (no event contents)")
    show = verbs.add_parser("show", help="one dead letter, whole")
    show.add_argument("message_id")
    replay = verbs.add_parser("replay", help="republish to the topic with ordering keys, then acknowledge")
    for verb in (listing, show, replay):
        verb.add_argument("--topic", choices=TOPICS, help=topic_help)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("message_ids", nargs="*", default=[])
    which.add_argument("--all", action="store_true")
    return parser


TOPICS = ("changes", "notifications")


def _dead_letters(topic: str = "changes") -> DeadLetters:
    from sync.ops.dead_letters import DeadLetters

    c = bootstrap.container()
    if topic == "notifications":
        return DeadLetters(c.dead_letter_subscription(notifications=True), c.notifications_publisher,
                           notifications=True)
    return DeadLetters(c.dead_letter_subscription(notifications=False), c.publisher)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "import-connection":
            token = args.refresh_token_file.read_text(encoding="utf-8")
            if not token.strip():
                raise ValueError(f"{args.refresh_token_file} is empty")
            result = bootstrap.container().activation.import_grant(
                args.account_id, args.user_id, args.calendar_id, token, google_email=args.google_email)
            print(json.dumps(result))
            return 0
        if args.command == "dead-letters":
            letters = _dead_letters(args.topic or args.topic_before or "changes")
            if args.verb == "list":
                rows = letters.listing()
                for row in rows:
                    print(json.dumps(row))
                print(f"{len(rows)} dead letter(s)", file=sys.stderr)
                return 0
            if args.verb == "show":
                found = letters.show(args.message_id)
                if found is None:
                    print(f"error: no dead letter {args.message_id}", file=sys.stderr)
                    return 1
                print(json.dumps(found, indent=2, ensure_ascii=False))
                return 0
            if not args.all and not args.message_ids:
                print("error: name message ids or --all", file=sys.stderr)
                return 2
            outcome = letters.replay(None if args.all else args.message_ids)
            print(json.dumps(outcome))
            return 0 if not outcome["failed"] and not outcome["not_found"] else 1
    except (SyncError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the CLI's boundary: Google's auth and API errors, said in one line
        if isinstance(exc, bootstrap.container().cloud_errors()):
            print(f"error: {type(exc).__name__}: cannot reach Google Cloud with these credentials "
                  "(for local runs source .local/stack.env)", file=sys.stderr)
            return 2
        raise
    return 1


if __name__ == "__main__":
    sys.exit(main())

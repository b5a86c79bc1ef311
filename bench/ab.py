"""Handlers side by side under the mixed load: ``python -m bench.ab SOURCE:TARGET [SOURCE:TARGET ...]``.

Each handler is a functions-framework target (``main.py:handle_webhook``,
``bench/baselines.py:publish_only``, or one of a file of variants you write to try a change),
served in a process of its own on a local stack (emulators), and all of them are loaded by wrk
at the same moment, round after round, each with webhooks of its own (bench/mixed.py). On this
kind of machine a handler's CPU per request moves by ±15 % between rounds taken in turns; loaded
at the same moment, two copies of the same handler differ by up to 8 % a round and up to 4 %
in the median of five to seven rounds: add a second copy of the first handler as a control. The first
handler is the one the others are compared with:

    python -m bench.ab bench/baselines.py:publish_only main.py:handle_webhook /tmp/try.py:variant

Prints each round's CPU per request, then medians and each handler's ratio to the first.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.mixed import mixed_payloads, signed
from bench.run import Batch, emit_side_by_side, serving, side_by_side
from local import shutdown
from local.stack import Stack


def handler_spec(text: str) -> tuple[str, str]:
    source, sep, target = text.rpartition(":")
    if not sep or not source or not target:
        raise argparse.ArgumentTypeError(f"{text!r} is not SOURCE:TARGET (e.g. main.py:handle_webhook)")
    if not Path(source).is_file():
        raise argparse.ArgumentTypeError(f"{source} is no file")
    return target, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("handlers", nargs="+", type=handler_spec, metavar="SOURCE:TARGET")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--webhooks", type=int, default=2000, help="per handler and round")
    parser.add_argument("--connections", type=int, default=16, help="wrk's, per handler")
    args = parser.parse_args()
    names = [f"{i}:{target}" for i, (target, _) in enumerate(args.handlers)]
    if min(args.rounds, args.webhooks, args.connections) < 1:
        parser.error("--rounds, --webhooks and --connections must be at least 1")
    shutdown.install()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp))
        stack.start()
        try:
            secret = stack.env["WEBHOOK_SIGNING_SECRET"]
            with serving(stack, dict(zip(names, args.handlers, strict=True))) as (urls, procs):
                def batches(tag: str, count: int, seed: int) -> dict[str, Batch]:
                    return {name: signed(secret, mixed_payloads(count, f"{tag}-{name}", 50, seed=seed))
                            for name in names}

                side_by_side(urls, procs, batches("warm", 300, 99), args.connections)  # clients made, paths hot
                rounds = []
                for r in range(args.rounds):
                    rounds.append(side_by_side(urls, procs, batches(f"ab{r}", args.webhooks, r), args.connections))
                    print(f"round {r + 1}: " + ", ".join(f"{name} {rounds[-1][name]['cpu_ms_per_req']:.3f} ms"
                                                        for name in names), flush=True)
        finally:
            stack.stop()
    emit_side_by_side(rounds, names[0])


if __name__ == "__main__":
    main()

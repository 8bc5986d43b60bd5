"""`agentstream "prompt"` (or `python -m agentstream_client`): run an agent and watch it stream, from a terminal.

The answer goes to stdout as it streams; tool calls, tool results, reasoning and the closing
stats go to stderr, so `agentstream "..." > answer.txt` keeps just the answer.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import TextIO

from . import DEFAULT_URL, AgentStreamClient, ClientError, Interrupt, Run, RunResult


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentstream", description=__doc__.split("\n\n")[0])
    parser.add_argument("prompt", nargs="?", help="the message to send (not needed with --resume)")
    parser.add_argument(
        "--url",
        default=os.environ.get("AGENTSTREAM_URL", DEFAULT_URL),
        help=f"the app's base URL (default $AGENTSTREAM_URL, else {DEFAULT_URL})",
    )
    parser.add_argument("--agent", metavar="NAME", help="the agent to run (default: the app's first agent)")
    parser.add_argument("--thread", metavar="THREAD", help="continue this thread's conversation")
    parser.add_argument(
        "--resume", metavar="THREAD[:AFTER]", help="re-attach to a thread's stream after event AFTER (default 0)"
    )
    parser.add_argument("--json", action="store_true", help="print the raw events, one JSON object per line")
    parser.add_argument("--token", help="send 'Authorization: Bearer TOKEN' (a caller's Entra ID token, say)")
    parser.add_argument(
        "--stream-token", help="with --resume: the start call's stream_token, when the server requires one"
    )
    parser.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'", help="an extra request header (repeatable)"
    )
    decision = parser.add_mutually_exclusive_group()
    decision.add_argument(
        "--approve", action="store_true", help="approve every tool call that waits for approval (else: ask)"
    )
    decision.add_argument("--reject", action="store_true", help="decline every tool call that waits for approval")
    args = parser.parse_args(argv)
    answering = args.thread is not None and (args.approve or args.reject)
    if args.prompt is None and args.resume is None and answering:
        pass  # answer the thread's open interrupts
    elif (args.prompt is None) == (args.resume is None):
        parser.error("give a prompt, or --resume THREAD[:AFTER] (or --thread THREAD with --approve or --reject)")
    if args.resume is not None and args.thread is not None:
        parser.error("--thread and --resume do not go together")
    if args.stream_token is not None and args.resume is None:
        parser.error("--stream-token goes with --resume (a new run brings its own)")

    headers = {}
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep:
            parser.error(f"--header '{header}' is not 'NAME: VALUE'")
        headers[name.strip()] = value.strip()

    interrupts: list[Interrupt] = []
    with AgentStreamClient(args.url, token=args.token, headers=headers) as client:
        try:
            if args.resume is not None:
                thread_id, _, after = args.resume.partition(":")
                if after and not after.isdigit():
                    parser.error(f"--resume '{args.resume}': AFTER must be an event id")
                run = client.resume(thread_id, after=int(after or 0), stream_token=args.stream_token)
            elif args.prompt is None:
                interrupts = _open_interrupts(client, args.thread)
                if not interrupts:
                    print(f"thread {args.thread} has no tool call waiting for approval", file=sys.stderr)
                    return 1
                run = client.run(thread_id=args.thread, agent=args.agent, resume=_decide(interrupts, args))
            else:
                run = client.run(args.prompt, thread_id=args.thread, agent=args.agent)
            while True:
                names = {interrupt.tool_call_id: interrupt.tool_name for interrupt in interrupts}
                with _cancel_on_interrupt(run) as ctrl_c:
                    if args.json:
                        code = _print_json(run)
                    else:
                        code = _print_run(run, sys.stdout, sys.stderr, names, interrupt=ctrl_c)
                interrupts = run.result().interrupts
                if not interrupts:
                    return code
                answers = _decide(interrupts, args)
                if answers is None:
                    print(
                        f"the run waits for a decision; answer with: agentstream --thread {run.thread_id} "
                        "--approve (or --reject)",
                        file=sys.stderr,
                    )
                    return 3
                run = client.run(thread_id=run.thread_id, agent=args.agent, resume=answers)
        except ClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except BrokenPipeError:
            # The reader went away (`agentstream ... | head`): stop quietly, as cat does. Python would
            # report the pipe again when it flushes stdout at exit, so stdout is pointed at devnull.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0


def _open_interrupts(client: AgentStreamClient, thread_id: str) -> list[Interrupt]:
    status = client.thread(thread_id)
    calls = {
        call["id"]: (call["function"]["name"], call["function"]["arguments"])
        for message in status.get("messages", [])
        for call in message.get("toolCalls", [])
    }
    return [Interrupt.from_event(body, calls) for body in status.get("interrupts", [])]


def _decide(interrupts: list[Interrupt], args: argparse.Namespace) -> list[dict[str, object]] | None:
    """The answers: from --approve/--reject, else asked on the terminal; None when nobody can be asked."""
    if args.approve:
        return [interrupt.approve() for interrupt in interrupts]
    if args.reject:
        return [interrupt.reject() for interrupt in interrupts]
    if not sys.stdin.isatty():
        return None
    answers = []
    for interrupt in interrupts:
        reply = input(f"{interrupt.message} [y/N] ").strip().lower()
        answers.append(interrupt.approve() if reply in ("y", "yes") else interrupt.reject())
    return answers


class _cancel_on_interrupt:
    """The first Ctrl-C cancels the run and keeps streaming to its end; the second one quits."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._interrupted = False

    def __enter__(self) -> _cancel_on_interrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    @property
    def is_cancelling(self) -> bool:
        """Whether Ctrl-C asked for the run to be cancelled."""
        return self._interrupted

    def __exit__(self, *exc: object) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._interrupted or self._run.run_id is None:
            raise KeyboardInterrupt
        self._interrupted = True
        print("\n[cancelling the run; Ctrl-C again to quit]", file=sys.stderr, flush=True)
        # The POST runs beside the reader, which then reads on to the terminal event.
        threading.Thread(target=self._run.cancel, daemon=True).start()


def _print_json(run: Run) -> int:
    for event in run:
        print(json.dumps({"id": event.id, "event": event.body}, ensure_ascii=False), flush=True)
    return 0 if run.result().ok else 2


def _print_run(
    run: Run,
    out: TextIO,
    err: TextIO,
    tool_names: dict[str, str] | None = None,
    *,
    interrupt: _cancel_on_interrupt | None = None,
) -> int:
    """`tool_names`: names of tool calls made before this run, whose results it may bring."""
    dim, bold, reset = ("\033[2m", "\033[1m", "\033[0m") if err.isatty() else ("", "", "")
    tool_names = dict(tool_names or {})
    tool_args: dict[str, str] = {}
    in_text = False
    in_reasoning = False
    for event in run:
        body = event.body
        kind = event.type
        if kind == "TEXT_MESSAGE_CONTENT" and run.is_assistant_message(body["messageId"]):
            out.write(body["delta"])
            out.flush()
            in_text = True
        elif kind == "TEXT_MESSAGE_END" and in_text:
            out.write("\n")
            out.flush()
            in_text = False
        elif kind == "REASONING_MESSAGE_START":
            err.write(f"{dim}[reasoning] ")
            in_reasoning = True
        elif kind == "REASONING_MESSAGE_CONTENT":
            err.write(f"{dim}{body['delta']}{reset}")
            err.flush()
        elif kind == "REASONING_MESSAGE_END" and in_reasoning:
            err.write(f"{reset}\n")
            in_reasoning = False
        elif kind == "TOOL_CALL_START":
            tool_names[body["toolCallId"]] = body["toolCallName"]
            tool_args[body["toolCallId"]] = ""
        elif kind == "TOOL_CALL_ARGS":
            tool_args[body["toolCallId"]] = tool_args.get(body["toolCallId"], "") + body["delta"]
        elif kind == "TOOL_CALL_END":
            call_id = body["toolCallId"]
            err.write(f"{bold}→ {tool_names.get(call_id, '?')}({tool_args.get(call_id, '')}){reset}\n")
            err.flush()
        elif kind == "TOOL_CALL_RESULT":
            call_id = body["toolCallId"]
            err.write(f"{bold}← {tool_names.get(call_id, '?')}: {body['content']}{reset}\n")
            err.flush()
        elif kind == "CUSTOM" and body.get("name") == "agentstream.step_discarded":
            if interrupt is not None and interrupt.is_cancelling:
                note = "the run is cancelled: the step above was cut off, its output is discarded, nothing is retried"
            else:
                # A retry or a cancel from elsewhere: what follows in the stream tells which.
                note = "the step above was cut off; its output is discarded"
            err.write(f"{dim}[{note}]{reset}\n")
    if in_text:
        out.write("\n")
        out.flush()
    result = run.result()
    err.write(_stats(run, result) + "\n")
    err.flush()
    return 0 if result.ok else 2


def _stats(run: Run, result: RunResult) -> str:
    parts = [f"thread {result.thread_id}", f"run {result.run_id}", result.outcome]
    if result.error:
        parts.append(f"{result.error.get('code')}: {result.error.get('message')}")
    finished = run.finished_at or time.monotonic()
    if run.first_token_at is not None:
        parts.append(f"first token {run.first_token_at - run.started_at:.2f} s")
        output_tokens = result.usage.get("outputTokens", 0)
        generating = finished - run.first_token_at
        if output_tokens and generating > 0:
            parts.append(f"{output_tokens / generating:.1f} tokens/s")
    if result.usage:
        parts.append(f"usage {result.usage.get('inputTokens', 0)} in / {result.usage.get('outputTokens', 0)} out")
    parts.append(f"{finished - run.started_at:.2f} s total")
    if run.events:
        parts.append(f"last event id {run.events[-1].id}")
    return " · ".join(parts)

"""Checking chat conversations the way LLaMA-Factory's ShareGPT reader will read them."""

from __future__ import annotations

import json
from typing import Any

from recipekit.data.rows import Skip

ROLES = ("system", "user", "assistant")


def parse_messages(value: Any, name: str) -> list[dict[str, str]]:
    """A list of {role, content} messages (or its JSON text) with string roles and contents; else a Skip."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise Skip(f"invalid JSON in {name} ({exc.msg})", name) from None
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise Skip(f"{name} is not a list of role/content messages", name)
    messages = []
    for index, message in enumerate(value, start=1):
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise Skip(f"unknown role {role!r} (message {index})", name)
        if not isinstance(content, str) or not content.strip():
            raise Skip(f"empty or missing content (message {index})", name)
        messages.append({"role": role, "content": content})
    return messages


def check_alternation(messages: list[dict[str, str]], name: str, last: str) -> None:
    """An optional leading system message, then user/assistant turns alternating from user, ending with ``last``.

    This is what LLaMA-Factory accepts; it drops any other conversation with only a log warning.
    """
    turns = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not turns:
        raise Skip("no user/assistant turns", name)
    offset = len(messages) - len(turns)
    for position, message in enumerate(turns):
        index = position + 1 + offset
        expected = "user" if position % 2 == 0 else "assistant"
        if message["role"] == "system":
            raise Skip(f"system message not at the start (message {index})", name)
        if message["role"] != expected:
            raise Skip(f"roles do not alternate user/assistant (message {index} is {message['role']})", name)
    if turns[-1]["role"] != last:
        raise Skip(f"conversation ends with a {turns[-1]['role']} turn (expected {last})", name)

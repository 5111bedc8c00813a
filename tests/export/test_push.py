"""``export --push``'s upload against a hub served here (huggingface_hub's own client, its repository, pre-upload
and commit calls): the repository made with the asked visibility, every file of the folder committed byte for byte
under the export's message, the commit's URL returned; a hub that refuses is one line and the folder stays."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import JsonHandler, serving

from recipekit.errors import InputError
from recipekit.export.model_card import push


class Hub(JsonHandler):
    """The hub's answers to the calls an upload makes; every call kept in ``calls``; ``refuse`` answers 403."""

    calls: ClassVar[list[tuple[str, str, bytes]]] = []
    refuse: ClassVar[bool] = False
    exists: ClassVar[bool] = False

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path, b""))
        self.answer(404, {"error": "not here"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.calls.append(("POST", self.path, body))
        endpoint = f"http://{self.headers['Host']}"
        if self.refuse:
            self.answer(403, {"error": "You don't have the rights to create a model under the namespace"})
        elif self.path == "/api/repos/create" and self.exists:
            self.answer(409, {"error": "You already created this model repo", "url": f"{endpoint}/me/tiny"})
        elif self.path == "/api/repos/create":
            request = json.loads(body)
            self.answer(200, {"url": f"{endpoint}/{request['organization']}/{request['name']}"})
        elif self.path == "/api/validate-yaml":
            self.answer(200, {})
        elif "/preupload/" in self.path:
            files = json.loads(body)["files"]
            self.answer(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                        for f in files]})
        elif "/commit/" in self.path:
            self.answer(200, {"commitUrl": f"{endpoint}/me/tiny/commit/0123abc", "commitOid": "0123abc"})
        else:
            self.answer(404, {"error": "not here"})


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Hub]]:
    import huggingface_hub.constants

    with serving(Hub) as endpoint:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token")
        Hub.calls, Hub.refuse, Hub.exists = [], False, False
        yield Hub


def exported(folder: Path) -> dict[str, bytes]:
    files = {"README.md": b"---\nlicense: apache-2.0\n---\n# tiny\n", "config.json": b'{"model_type": "qwen2"}\n',
             "model.safetensors": bytes(range(256)) * 4}
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return files


@pytest.mark.parametrize("private", [True, False])
def test_the_folder_is_committed_whole_to_a_repository_of_the_asked_visibility(hub: type[Hub], tmp_path: Path,
                                                                             private: bool) -> None:
    files = exported(tmp_path / "merged")
    url = push(tmp_path / "merged", "me/tiny", private=private)
    assert url.endswith("/me/tiny/commit/0123abc")
    posts = [(path, body) for method, path, body in hub.calls if method == "POST"]
    create = json.loads(next(body for path, body in posts if path == "/api/repos/create"))
    assert (create["organization"], create["name"]) == ("me", "tiny")
    assert create["visibility"] == ("private" if private else "public")
    commit = next(body for path, body in posts if path == "/api/models/me/tiny/commit/main")
    lines = [json.loads(line) for line in commit.decode().splitlines()]
    assert lines[0]["value"]["summary"] == "Upload merged (llm-recipes export)"
    sent = {line["value"]["path"]: base64.b64decode(line["value"]["content"]) for line in lines
            if line["key"] == "file"}
    assert sent == files
    assert {p.name: p.read_bytes() for p in (tmp_path / "merged").iterdir()} == files  # the export stays


def test_a_hub_that_refuses_is_one_line_naming_the_error_and_the_upload_to_run_later(hub: type[Hub],
                                                                                    tmp_path: Path) -> None:
    files = exported(tmp_path / "merged")
    hub.refuse = True
    with pytest.raises(InputError) as raised:
        push(tmp_path / "merged", "me/tiny")
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'merged'}: --push me/tiny failed (HfHubHTTPError: ")
    assert message.endswith(f"); the export is kept here: upload it later with `hf upload me/tiny "
                            f"{tmp_path / 'merged'}`")
    assert "\n" not in message and "403" in message
    assert {p.name: p.read_bytes() for p in (tmp_path / "merged").iterdir()} == files
    assert not any("/commit/" in path for _, path, _ in hub.calls)


def test_a_folder_that_is_not_there_is_one_line_after_the_repository_is_made(hub: type[Hub], tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        push(tmp_path / "missing", "me/tiny")
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'missing'}: --push me/tiny failed (ValueError: ")
    assert any(path == "/api/repos/create" for _, path, _ in hub.calls)
    assert "\n" not in message and "hf upload me/tiny" in message


def test_a_repository_that_exists_already_is_pushed_to(hub: type[Hub], tmp_path: Path) -> None:
    files = exported(tmp_path / "merged")
    hub.exists = True
    assert push(tmp_path / "merged", "me/tiny").endswith("/me/tiny/commit/0123abc")
    create = next(body for _, path, body in hub.calls if path == "/api/repos/create")
    assert json.loads(create)["visibility"] == "public"  # not asked private: public, as `hf upload` makes it
    commit = next(body for _, path, body in hub.calls if path == "/api/models/me/tiny/commit/main")
    assert len([line for line in commit.decode().splitlines() if '"key": "file"' in line]) == len(files)

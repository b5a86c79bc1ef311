"""Importing the functions' module does no work: no Google client library, no client, no I/O."""

import json
import subprocess
import sys

from local.stack import ROOT

HEAVY = ("google.cloud.pubsub_v1", "google.cloud.firestore", "googleapiclient", "google.cloud.secretmanager",
         "grpc", "httplib2", "google.auth", "google.oauth2", "cryptography")


def test_importing_main_loads_no_google_client_library():
    code = "import sys, json, main; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"})
    loaded = json.loads(out.stdout)
    assert not [m for m in loaded if m.startswith(HEAVY)]
    assert "sync.web.webhook" in loaded and "sync.web.worker" in loaded


def test_ops_cli_refuses_an_empty_token_file(tmp_path):
    empty = tmp_path / "token"
    empty.write_text("\n")
    out = subprocess.run([sys.executable, "-m", "sync.ops", "import-connection", "--account-id", "a",
                          "--user-id", "u", "--calendar-id", "c", "--refresh-token-file", str(empty)],
                         cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "GOOGLE_CLOUD_PROJECT": "p", "SECRETS_BACKEND": "env"})
    assert out.returncode == 2 and "empty" in out.stderr


def test_ops_cli_refuses_a_missing_project(tmp_path):
    token = tmp_path / "token"
    token.write_text("1//x")
    out = subprocess.run([sys.executable, "-m", "sync.ops", "import-connection", "--account-id", "a",
                          "--user-id", "u", "--calendar-id", "c", "--refresh-token-file", str(token)],
                         cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 2 and "GOOGLE_CLOUD_PROJECT" in out.stderr
    assert "1//x" not in out.stderr

"""The command line: bad options, unreadable input and unreachable clusters give one clear line."""

from __future__ import annotations

import pytest

from searchcore.local_server import free_port
from sidecar.cli import main


@pytest.fixture
def closed_port():
    return free_port()   # nothing listens there


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "1", "text": "hello"}\n')
    return path


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    lines = [line for line in err if line.startswith("rerank-sidecar ingest: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_unknown_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["ingest", "c.jsonl", "--index", "x", "--bogus"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus" in err and "Traceback" not in err


def test_missing_file(capsys, tmp_path, closed_port):
    code = main(["ingest", str(tmp_path / "absent.jsonl"), "--index", "x",
                 "--opensearch", f"http://127.0.0.1:{closed_port}"])
    assert code == 2
    assert error_line(capsys).endswith("absent.jsonl: no such file or directory")


def test_unreachable_cluster(capsys, corpus, closed_port):
    code = main(["ingest", str(corpus), "--index", "x",
                 "--opensearch", f"http://127.0.0.1:{closed_port}"])
    assert code == 2
    assert error_line(capsys) == ("rerank-sidecar ingest: error: cannot reach OpenSearch at "
                                  f"http://127.0.0.1:{closed_port}: connection refused")


def test_credentials_never_appear_in_messages(capsys, corpus, closed_port):
    main(["ingest", str(corpus), "--index", "x",
          "--opensearch", f"http://admin:s3cret@127.0.0.1:{closed_port}"])
    assert "s3cret" not in error_line(capsys)


@pytest.mark.parametrize(("args", "message"), [
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--from-index", "old"], "give either SOURCE or --from-index, not both"),
    (["--opensearch", "ftp://host"], "--opensearch must be an http(s) URL"),
    (["--format", "beir"], "format beir needs a directory"),
])
def test_bad_option_values(capsys, corpus, args, message):
    assert main(["ingest", str(corpus), "--index", "x", *args]) == 2
    assert message in error_line(capsys)


def test_index_is_required(capsys, corpus):
    assert main(["ingest", str(corpus)]) == 2
    assert "--index is required" in error_line(capsys)


def test_config_file_with_an_unknown_key(capsys, corpus, tmp_path):
    config = tmp_path / "ingest.yaml"
    config.write_text("ingest:\n  index: docs\n  batch_sise: 3\n")
    assert main(["ingest", str(corpus), "--config", str(config)]) == 2
    assert "unknown option [batch_sise]" in error_line(capsys)


def test_the_default_engine_is_lucene(corpus):
    import argparse

    from ingest.cli import add_arguments, resolve_options

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = resolve_options(parser.parse_args([str(corpus), "--index", "x"]))
    assert options["engine"] == "lucene"
    assert resolve_options(parser.parse_args([str(corpus), "--index", "x", "--engine", "faiss"]))["engine"] == "faiss"

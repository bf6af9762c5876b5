"""Finding messages on disk: .eml, mbox, Maildir, folders, bare HTML, and the errors."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pixelwarden import sources
from pixelwarden.mime import HtmlDocument, parse_message
from pixelwarden.model import PixelWardenError
from pixelwarden.sources import iter_sources


def eml(n: int, body: str = "") -> bytes:
    return f"From: sender{n}@shop.example\nSubject: message {n}\n\n{body or f'body {n}'}\n".encode()


def collect(*paths) -> list[tuple[str, bytes | PixelWardenError]]:
    return list(iter_sources([str(p) for p in paths]))


def codes(results) -> list[str]:
    return [raw.code for _, raw in results if isinstance(raw, PixelWardenError)]


MBOX = (
    b"From sender1@shop.example Mon Jan  1 00:00:00 2024\n"
    b"From: sender1@shop.example\nSubject: one\n\n"
    b">From the start of a body line\n"
    b">>From a line that was already quoted\n"
    b"From inside a paragraph is not a separator\n"
    b"\n"
    b"From sender2@shop.example Mon Jan  1 00:00:01 2024\n"
    b"From: sender2@shop.example\nSubject: two\n\nsecond body\n"
    b"\n"
    b"From - Tue Jan  2 10:00:00 2024\n"
    b"From: sender3@shop.example\nSubject: three\n\n"
    b"> From a quoted reply keeps its marker\n"
    b"\n"
)


def test_single_eml(tmp_path):
    path = tmp_path / "a.eml"
    path.write_bytes(eml(1))
    assert collect(path) == [(str(path), eml(1))]


def test_mbox_three_messages_with_from_quoting(tmp_path):
    path = tmp_path / "archive"  # detected by content, whatever the name
    path.write_bytes(MBOX)
    results = collect(path)
    assert [source for source, _ in results] == [f"{path}#1", f"{path}#2", f"{path}#3"]
    first, second, third = (raw for _, raw in results)
    assert isinstance(first, bytes) and isinstance(second, bytes) and isinstance(third, bytes)
    assert first == (
        b"From: sender1@shop.example\nSubject: one\n\n"
        b"From the start of a body line\n"
        b">From a line that was already quoted\n"
        b"From inside a paragraph is not a separator\n"
    )
    assert second == b"From: sender2@shop.example\nSubject: two\n\nsecond body\n"
    assert third.endswith(b"> From a quoted reply keeps its marker\n")
    senders = [parse_message(raw, source).from_address for source, raw in results]
    assert senders == [
        "sender1@shop.example",
        "sender2@shop.example",
        "sender3@shop.example",
    ]


def test_mbox_with_crlf_line_ends(tmp_path):
    path = tmp_path / "crlf.mbox"
    path.write_bytes(MBOX.replace(b"\n", b"\r\n"))
    results = collect(path)
    assert len(results) == 3
    first = results[0][1]
    assert isinstance(first, bytes)
    assert b"\r\nFrom the start of a body line\r\n" in first
    assert first.endswith(b"separator\r\n")


def test_mbox_without_final_blank_line_and_with_odd_extension(tmp_path):
    path = tmp_path / "mail.txt"
    path.write_bytes(MBOX.rstrip(b"\n"))
    results = collect(path)
    assert len(results) == 3
    assert results[2][1] == (
        b"From: sender3@shop.example\nSubject: three\n\n> From a quoted reply keeps its marker"
    )


def test_eml_with_envelope_line_keeps_its_path(tmp_path):
    path = tmp_path / "saved.eml"
    path.write_bytes(b"From someone@x.example Mon Jan  1 00:00:00 2024\n" + eml(1))
    assert collect(path) == [(str(path), eml(1))]


@pytest.mark.parametrize("block", [3, 64, 1 << 20])
def test_mbox_message_over_the_cap_is_an_error_and_the_rest_is_read(tmp_path, monkeypatch, block):
    monkeypatch.setattr(sources, "MAX_MESSAGE_BYTES", 200)
    monkeypatch.setattr(sources, "_BLOCK", block)
    big = b"From: big@x.example\n\n" + b"x" * 300 + b"\n"
    path = tmp_path / "box.mbox"
    path.write_bytes(b"From a\n" + eml(1) + b"\nFrom b\n" + big + b"\nFrom c\n" + eml(3))
    results = collect(path)
    assert [source for source, _ in results] == [f"{path}#1", f"{path}#2", f"{path}#3"]
    assert codes(results) == ["too_large"]
    assert results[2][1] == eml(3)


def test_long_lines_are_read_in_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_BLOCK", 16)
    body = "y" * 100 + "From not a separator"
    path = tmp_path / "box.mbox"
    path.write_bytes(b"From a\n" + eml(1, body) + b"\nFrom b\n" + eml(2))
    results = collect(path)
    assert [raw for _, raw in results] == [eml(1, body), eml(2)]


def test_bare_html_is_tagged(tmp_path):
    path = tmp_path / "page.HTM"
    path.write_bytes(b"<html><body><img src=https://t.example/p.gif></body></html>")
    [(source, raw)] = collect(path)
    assert source == str(path) and isinstance(raw, HtmlDocument)
    message = parse_message(raw, source)
    assert message.html is not None and "p.gif" in message.html


def make_maildir(root, names):
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for sub, name, content in names:
        (root / sub / name).write_bytes(content)


def test_maildir_reads_cur_and_new_not_tmp(tmp_path):
    box = tmp_path / "Maildir"
    make_maildir(
        box,
        [
            ("cur", "1700000002.M1.host:2,S", eml(2)),
            ("cur", "1700000001.M1.host:2,S", eml(1)),
            ("new", "1700000003.M1.host", eml(3)),
            ("tmp", "1700000004.M1.host", eml(4)),
            ("cur", ".hidden", eml(5)),
        ],
    )
    (box / "dovecot-uidlist").write_bytes(b"3 V1 N4\n")
    results = collect(box)
    assert [raw for _, raw in results] == [eml(1), eml(2), eml(3)]
    assert results[0][0] == str(box / "cur" / "1700000001.M1.host:2,S")


def test_folder_recursive_sorted_with_nested_maildirs_and_mbox(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.eml").write_bytes(eml(2))
    (tmp_path / "b" / "1.EML").write_bytes(eml(1))
    (tmp_path / "a.eml").write_bytes(eml(0))
    (tmp_path / "notes.txt").write_bytes(eml(99))  # not a mail file when met in a folder
    (tmp_path / "Inbox").write_bytes(b"From x\n" + eml(10) + b"\nFrom y\n" + eml(11))
    (tmp_path / "Inbox.msf").write_bytes(b"// <!-- <mdb:mork:z v=1.4/> -->")
    (tmp_path / "Drafts").write_bytes(b"not an mbox")
    (tmp_path / ".hidden.eml").write_bytes(eml(98))
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.eml").write_bytes(eml(97))
    (tmp_path / "c.html").write_bytes(b"<p>page</p>")
    maildir = tmp_path / "d" / "Maildir"
    make_maildir(maildir, [("cur", "m1", eml(20))])
    make_maildir(maildir / ".Sent", [("new", "m2", eml(21))])
    results = collect(tmp_path)
    assert [os.path.relpath(source, tmp_path) for source, _ in results] == [
        "Inbox#1",
        "Inbox#2",
        "a.eml",
        os.path.join("b", "1.EML"),
        os.path.join("b", "2.eml"),
        "c.html",
        os.path.join("d", "Maildir", "cur", "m1"),
        os.path.join("d", "Maildir", ".Sent", "new", "m2"),
    ]
    assert [raw for _, raw in results if not isinstance(raw, HtmlDocument)] == [
        eml(10),
        eml(11),
        eml(0),
        eml(1),
        eml(2),
        eml(20),
        eml(21),
    ]


def test_symlink_loop_in_folder_is_not_followed_forever(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "m.eml").write_bytes(eml(1))
    os.symlink(tmp_path, tmp_path / "sub" / "up")
    assert [raw for _, raw in collect(tmp_path)] == [eml(1)]


def test_missing_and_unreadable_paths_do_not_stop_the_walk(tmp_path):
    good = tmp_path / "good.eml"
    good.write_bytes(eml(1))
    loop = tmp_path / "loop"
    os.symlink(loop, loop)  # stat() fails with "too many levels of symbolic links"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    results = collect(tmp_path / "absent.eml", loop, fifo, good)
    assert codes(results) == ["not_found", "unreadable", "unreadable"]
    assert results[0][0] == str(tmp_path / "absent.eml")
    assert results[-1] == (str(good), eml(1))
    for _, raw in results[:3]:
        assert isinstance(raw, PixelWardenError) and raw.message


def test_unreadable_file_in_folder(tmp_path, monkeypatch):
    (tmp_path / "a.eml").write_bytes(eml(1))
    (tmp_path / "b.eml").write_bytes(eml(2))
    real_open = open

    def failing_open(path, *args, **kwargs):
        if str(path).endswith("a.eml"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    results = collect(tmp_path)
    assert codes(results) == ["unreadable"]
    assert results[0][0] == str(tmp_path / "a.eml")
    assert results[1] == (str(tmp_path / "b.eml"), eml(2))


def test_large_single_file_is_refused_without_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "MAX_MESSAGE_BYTES", 10)
    path = tmp_path / "big.eml"
    path.write_bytes(eml(1))
    assert codes(collect(path)) == ["too_large"]


def test_empty_file_and_empty_folder(tmp_path):
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    assert collect(empty) == [(str(empty), b"")]
    with pytest.raises(PixelWardenError):
        parse_message(b"", str(empty))
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_bytes(b"not mail")
    assert codes(collect(tmp_path / "nothing")) == ["no_messages"]


_LINES = st.lists(
    st.one_of(
        st.sampled_from(["", "From here on", ">From quoted", ">>From twice", "From", " From x"]),
        st.text(alphabet="abcF>rom :\t", max_size=12),
    ),
    max_size=12,
)


def mboxrd(messages: list[bytes], newline: bytes) -> bytes:
    """Write messages the way an mboxrd writer does: quote every ">*From " line once more."""
    out = b""
    for message in messages:
        body = re.sub(rb"(?m)^(>*From )", rb">\1", message)
        out += b"From sender@x.example Mon Jan  1 00:00:00 2024" + newline + body + newline
    return out


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    messages=st.lists(_LINES, min_size=1, max_size=5),
    crlf=st.booleans(),
    piece=st.sampled_from([7, 64, 1 << 20]),
)
def test_property_mboxrd_round_trip(tmp_path, monkeypatch, messages, crlf, piece):
    monkeypatch.setattr(sources, "_BLOCK", piece)
    newline = b"\r\n" if crlf else b"\n"
    originals = [
        newline.join([b"From: a@b.example", b""] + [line.encode() for line in lines]) + newline
        for lines in messages
    ]
    path = tmp_path / "round.mbox"
    path.write_bytes(mboxrd(originals, newline))
    assert [raw for _, raw in collect(path)] == originals


@pytest.mark.parametrize("block", [5, 64, 1 << 20])
def test_mbox_cap_is_exact_and_an_endless_line_is_not_kept(tmp_path, monkeypatch, block):
    monkeypatch.setattr(sources, "MAX_MESSAGE_BYTES", 100)
    monkeypatch.setattr(sources, "_BLOCK", block)
    exact = b"From: a@b.example\n\n" + b"x" * (100 - 20) + b"\n"
    over = exact[:-1] + b"xx\n"
    endless = b"From: a@b.example\n\n" + b"y" * 5000  # no line break at all
    path = tmp_path / "box.mbox"
    path.write_bytes(
        b"From a\n"
        + exact
        + b"\nFrom b\n"
        + over
        + b"\nFrom c\n"
        + endless
        + b"\n\nFrom d\n"
        + eml(4)
    )
    results = collect(path)
    assert len(exact) == 100
    assert [raw if isinstance(raw, bytes) else raw.code for _, raw in results] == [
        exact,
        "too_large",
        "too_large",
        eml(4),
    ]


def test_mbox_last_separator_without_line_break_adds_no_message(tmp_path):
    path = tmp_path / "box.mbox"
    path.write_bytes(b"From a\n" + eml(1) + b"\nFrom b")
    assert collect(path) == [(f"{path}#1", eml(1))]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(
        st.sampled_from([b"From x\n", b"\n", b"\r\n", b">From y\n", b"From ", b"z", b"\r"]),
        max_size=40,
    ),
    block=st.sampled_from([1, 2, 5, 1 << 20]),
)
def test_property_block_size_does_not_change_the_messages(tmp_path, monkeypatch, data, block):
    path = tmp_path / "any.mbox"
    path.write_bytes(b"From first\n" + b"".join(data))
    reference = collect(path)
    monkeypatch.setattr(sources, "_BLOCK", block)
    assert collect(path) == reference
    for _, raw in reference:
        assert isinstance(raw, bytes)

"""The parser's cache (SPEC section 7): the stand-alone parser kept in
$XDG_CACHE_HOME/gradcli is code, so it runs only when nobody but the user
can have written it, and it is written without following links.

Each attack plants a file whose code, if executed, creates a marker file.
The tests run as root in CI, where permission bits do not stop anything, so
they check what gradcli decides from ownership and modes, not EACCES;
another user's files are made with chown (root only).
"""

from __future__ import annotations

import errno
import marshal
import os
import subprocess
import sys

import pytest

from gradcli.lang import parser

ROOT = os.geteuid() == 0
OTHER_USER = 4321
as_root = pytest.mark.skipif(not ROOT, reason="making another user's files needs root")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private XDG_CACHE_HOME and HOME; the cache folder itself not made."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "xdg" / "gradcli"


@pytest.fixture
def small_parser(monkeypatch):
    """A tiny stand-in for the generated parser, so writing tests are fast."""
    made = marshal.dumps(compile("Lark_StandAlone = 'made'", "made", "exec"))
    monkeypatch.setattr(parser, "_generate_standalone", lambda grammar, name: made)
    return made


NAME = parser._standalone_name(parser._grammar_text())


def planted_code(marker) -> bytes:
    """What an attacker plants: code that leaves a marker when it runs."""
    source = f"open({str(marker)!r}, 'w').close()\nLark_StandAlone = 'planted'\n"
    return marshal.dumps(compile(source, "planted", "exec"))


def plant(folder, marker, mode=0o600, name=NAME):
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(planted_code(marker))
    path.chmod(mode)
    return path


def contents(folder) -> dict:
    return {p.name: (p.read_bytes() if p.is_file() and not p.is_symlink() else "link")
            for p in folder.iterdir()}


# ------------------------------------------------------------ what is loaded

def test_a_file_only_the_user_can_write_is_the_one_executed(cache, tmp_path):
    # The control for every test below: the planted name is the right one.
    marker = tmp_path / "ran"
    plant(cache, marker)
    runtime = parser._load_standalone(make=False)
    assert runtime.Lark_StandAlone == "planted" and marker.exists()


def world_writable(cache, marker):
    plant(cache, marker, mode=0o666)


def group_writable(cache, marker):
    plant(cache, marker, mode=0o620)


def in_a_shared_folder(cache, marker):
    plant(cache, marker)
    cache.chmod(0o777)


def in_a_group_writable_folder(cache, marker):
    plant(cache, marker)
    cache.chmod(0o770)


def a_link_to_a_trusted_file(cache, marker):
    target = plant(cache.parent / "elsewhere", marker)
    cache.mkdir(mode=0o700)
    (cache / NAME).symlink_to(target)


def the_folder_a_link(cache, marker):
    plant(cache.parent / "elsewhere", marker)
    cache.symlink_to(cache.parent / "elsewhere")


def another_users_file(cache, marker):
    os.chown(plant(cache, marker), OTHER_USER, OTHER_USER)


def another_users_folder(cache, marker):
    plant(cache, marker)
    os.chown(cache, OTHER_USER, OTHER_USER)


UNTRUSTED = [world_writable, group_writable, in_a_shared_folder, in_a_group_writable_folder,
             a_link_to_a_trusted_file, the_folder_a_link,
             pytest.param(another_users_file, marks=as_root),
             pytest.param(another_users_folder, marks=as_root)]


@pytest.mark.parametrize("setup", UNTRUSTED)
def test_a_planted_file_is_not_executed(cache, tmp_path, setup):
    marker = tmp_path / "ran"
    setup(cache, marker)
    assert parser._load_standalone(make=False) is None
    runtime = parser._runtime()             # what an import would parse with
    assert runtime.Lark.__module__.startswith("lark")
    assert not marker.exists()


@pytest.mark.parametrize("setup", [in_a_shared_folder, in_a_group_writable_folder,
                                   the_folder_a_link,
                                   pytest.param(another_users_folder, marks=as_root)])
def test_nothing_is_written_into_a_folder_others_control(cache, tmp_path, setup,
                                                         small_parser):
    marker = tmp_path / "ran"
    setup(cache, marker)
    before = contents(cache)
    assert parser._load_standalone() is None
    parser._save_standalone(parser._grammar_text())
    assert contents(cache) == before and not marker.exists()


@pytest.mark.parametrize("setup", [world_writable, group_writable,
                                   pytest.param(another_users_file, marks=as_root)])
def test_an_untrusted_file_in_the_users_own_folder_is_replaced(cache, tmp_path, setup,
                                                               small_parser):
    marker = tmp_path / "ran"
    setup(cache, marker)
    assert parser._load_standalone().Lark_StandAlone == "made"
    assert not marker.exists()
    made = cache / NAME
    assert made.read_bytes() == small_parser
    assert made.stat().st_uid == os.geteuid() and made.stat().st_mode & 0o777 == 0o600


def test_a_planted_link_in_place_of_the_file_is_replaced_not_followed(cache, tmp_path,
                                                                      small_parser):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    cache.mkdir(mode=0o700, parents=True)
    (cache / NAME).symlink_to(victim)
    parser._save_standalone(parser._grammar_text())
    assert victim.read_text() == "keep me"
    assert not (cache / NAME).is_symlink() and (cache / NAME).read_bytes() == small_parser


# --------------------------------------------------------------- where it is

def test_a_relative_xdg_cache_home_is_ignored(tmp_path, monkeypatch, small_parser):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    marker = tmp_path / "ran"
    for relative in (".", "cache"):
        monkeypatch.setenv("XDG_CACHE_HOME", relative)
        plant(work / relative / "gradcli", marker)
        assert parser._load_standalone(make=False) is None and not marker.exists()
    parser._save_standalone(parser._grammar_text())
    assert (home / ".cache" / "gradcli" / NAME).read_bytes() == small_parser
    assert sorted(p.name for p in (work / "gradcli").iterdir()) == [NAME]


def test_a_relative_home_is_ignored_too(tmp_path, monkeypatch, small_parser):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "home")
    parser._save_standalone(parser._grammar_text())
    assert parser._load_standalone(make=False) is None
    assert list(tmp_path.iterdir()) == []


def test_the_cache_folder_is_made_private(cache, small_parser):
    parser._save_standalone(parser._grammar_text())
    assert cache.stat().st_mode & 0o777 == 0o700
    assert cache.parent.stat().st_mode & 0o777 == 0o700     # XDG: a base made 0700
    assert (cache / NAME).stat().st_mode & 0o777 == 0o600


def test_an_older_more_open_folder_of_the_users_is_narrowed(cache, small_parser):
    cache.mkdir(parents=True)
    cache.chmod(0o755)          # what earlier versions made
    assert parser._load_standalone().Lark_StandAlone == "made"
    assert cache.stat().st_mode & 0o777 == 0o700


# ------------------------------------------------------------ how it is written

def test_planted_tmp_links_are_never_written_through(cache, tmp_path, monkeypatch,
                                                     small_parser):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    cache.mkdir(mode=0o700, parents=True)
    # Where earlier versions wrote, and where this one will try first.
    (cache / f"{NAME[:-len('.standalone')]}.{os.getpid()}.tmp").symlink_to(victim)
    predicted = f".{NAME}.{'00' * 8}.tmp"
    (cache / predicted).symlink_to(victim)
    with monkeypatch.context() as patched:
        patched.setattr(os, "urandom", lambda n: b"\0" * n)
        with pytest.raises(FileExistsError):
            parser._save_standalone(parser._grammar_text())
    assert victim.read_text() == "keep me" and not (cache / NAME).exists()
    parser._save_standalone(parser._grammar_text())
    assert victim.read_text() == "keep me"
    assert (cache / NAME).read_bytes() == small_parser
    assert (cache / predicted).is_symlink()


def fail_with(error):
    def failing(*args, **kwargs):
        raise OSError(error, os.strerror(error))
    return failing


@pytest.mark.parametrize("step", ["write", "replace"])
def test_a_failed_write_leaves_no_temporary_file(cache, monkeypatch, small_parser, step):
    cache.mkdir(mode=0o700, parents=True)
    (cache / NAME).write_bytes(b"the earlier one")
    (cache / NAME).chmod(0o600)
    with monkeypatch.context() as patched:
        patched.setattr(os, step, fail_with(errno.ENOSPC))
        with pytest.raises(OSError):
            parser._save_standalone(parser._grammar_text())
    assert contents(cache) == {NAME: b"the earlier one"}


def test_a_full_disk_while_parsing_still_parses(cache, monkeypatch, small_parser):
    monkeypatch.setattr(parser, "_PARSER", None)
    monkeypatch.setattr(parser, "_RUNTIME", parser._lark_runtime())
    with monkeypatch.context() as patched:
        patched.setattr(os, "write", fail_with(errno.ENOSPC))
        lark_parser, _ = parser._parser()
    assert lark_parser.parse("x = 1\n").body[0].target.id == "x"
    assert list(cache.iterdir()) == []


def test_short_writes_are_completed(cache, monkeypatch, small_parser):
    write = os.write
    with monkeypatch.context() as patched:
        patched.setattr(os, "write", lambda fd, data: write(fd, bytes(data[:7])))
        parser._save_standalone(parser._grammar_text())
    assert contents(cache) == {NAME: small_parser}


# ------------------------------------------------------------- whole runs

def run_python(code: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"),
           "HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)


def test_importing_the_parser_writes_nothing_and_the_first_parse_fills_the_cache(tmp_path):
    imported = run_python("from gradcli.lang import parser", tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    parsed = run_python("from gradcli.lang import parser\n"
                        "print(parser.parse('x = 1').body[0].target.id)", tmp_path)
    assert parsed.returncode == 0 and parsed.stdout == "x\n", parsed.stderr
    assert [p.name for p in (tmp_path / "xdg" / "gradcli").iterdir()] == [NAME]
    assert (tmp_path / "xdg" / "gradcli").stat().st_mode & 0o777 == 0o700
    # ... which the next run trusts, and parses with, without importing lark.
    again = run_python("import sys\nfrom gradcli.lang import parser\n"
                       "print(parser.parse('y = 2').body[0].target.id, 'lark' in sys.modules)",
                       tmp_path)
    assert again.stdout == "y False\n", again.stderr


def test_a_run_with_a_planted_world_writable_file_parses_and_does_not_execute_it(tmp_path):
    marker = tmp_path / "ran"
    plant(tmp_path / "xdg" / "gradcli", marker, mode=0o666)
    result = run_python("from gradcli.lang import parser\n"
                        "print(parser.parse('z = 3').body[0].target.id)", tmp_path)
    assert result.returncode == 0 and result.stdout == "z\n", result.stderr
    assert not marker.exists()
    remade = tmp_path / "xdg" / "gradcli" / NAME
    assert remade.stat().st_mode & 0o777 == 0o600 and remade.stat().st_size > 1000

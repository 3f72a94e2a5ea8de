"""Text from jobs printed to a terminal: escape sequences in a program's output are shown,
not acted on (a log line must not set the window title, move the cursor or ring)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from textwrap import dedent

from helpers import trayjobs
from trayjobs.textfmt import for_terminal

# What a hostile (or merely careless) program prints: a window title (OSC), a screen clear,
# a carriage return that would overwrite the line, a bell, a C1 control; and a colour.
NASTY = "title\x1b]0;pwned\x07 clear\x1b[2J back\rover bell\x07 c1\x9b1A \x1b[31mred\x1b[0m"


def test_control_characters_are_written_as_text_and_colours_kept():
    shown = for_terminal(NASTY + "\ttab\nnext")
    assert "\x1b]" not in shown and "\x07" not in shown and "\r" not in shown
    assert "\x9b" not in shown and "\x1b[2J" not in shown
    assert "\\x1b]0;pwned\\x07" in shown and "back\\x0dover" in shown and "\\x9b1A" in shown
    assert "\x1b[31mred\x1b[0m" in shown and "\ttab\nnext" in shown


def _on_a_terminal(home, *args: str) -> str:
    """The CLI's output (stdout and stderr) as a terminal gets it."""
    main, sub = pty.openpty()
    env = dict(os.environ, TRAYJOBS_HOME=str(home.root))
    proc = subprocess.Popen([sys.executable, "-m", "trayjobs", *args], stdin=subprocess.DEVNULL,
                            stdout=sub, stderr=sub, env=env)
    os.close(sub)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(main)
    return out.decode("utf-8", "replace")


def test_show_and_run_on_a_terminal_do_not_pass_a_programs_escapes(home, tmp_path):
    # (a command's line redrawn with "\r" is logged in its last state: none here)
    nasty = NASTY.replace("back\rover", "")
    prog = tmp_path / "nasty.py"
    prog.write_text(f"import sys\nprint({nasty!r})\nsys.stderr.write('err' + {nasty!r})\n"
                    f"sys.exit(3)\n")
    home.config_file.write_text(dedent(f"""
        [jobs.nasty]
        kind = "command"
        command = ["{sys.executable}", "{prog}"]
        retry = {{ attempts = 1 }}
    """))
    ran = _on_a_terminal(home, "run", "nasty", "--wait")  # its error is the program's
    shown = _on_a_terminal(home, "show", "1")
    for out in (ran, shown):
        assert "pwned" in out, out
        assert "\x1b]0;" not in out and "\x07" not in out and "\x1b[2J" not in out, repr(out)
    assert "\\x1b]0;pwned\\x07" in shown and "\x1b[31mred" in shown
    # not a terminal: the text as stored (a file or a pipe gets it to keep)
    piped = trayjobs(home, "show", "1").stdout
    assert "\x1b]0;pwned\x07" in piped


# A module being imported is in sys.modules before its body has run: the thread that says
# the command waits for the history's server must not use it half made.
_HALF_IMPORTED = dedent("""
    import sys, threading, time
    from trayjobs import cli_terminal

    cli_terminal.WAIT_NOTICE = 0.02  # looks every 5 ms
    class Slow:  # the PostgreSQL store's module stops half way for half a second
        def find_spec(self, name, path=None, target=None):
            if name == "trayjobs.store.pg_migrations":
                time.sleep(0.5)
    sys.meta_path.insert(0, Slow())
    threading.Thread(target=cli_terminal.say_waits, name="waits", daemon=True).start()
    import trayjobs.store.postgres
    time.sleep(0.1)
    print("imported")
""")


def test_the_wait_notice_never_reads_the_postgresql_module_half_imported():
    out = subprocess.run([sys.executable, "-c", _HALF_IMPORTED], capture_output=True,
                         text=True, timeout=60)
    assert out.stdout == "imported\n" and out.stderr == "", out.stderr

"""Editing the jobs file from the window: comments and layout survive, bad edits are refused."""

from __future__ import annotations

import tomllib
import os
from textwrap import dedent

import pytest

from trayjobs.config_edit import ConfigDocument, EditRefused, parse_toml_value
from trayjobs.errors import UserError

TEXT = dedent("""\
    # My jobs. Keep this comment.
    [settings]
    workers = 2  # two at once

    [jobs.count]  # counting
    kind = "demo"
    steps = 10   # ten
    every = "1h"
    retry = { attempts = 2 }

    # The second job, in a table with a sub-table.
    [jobs.other]
    kind = "demo"
    then = "count"
    [jobs.other.watch]
    folder = "~/x"
""")


def test_changing_one_key_leaves_the_rest_of_the_file_alone():
    doc = ConfigDocument(TEXT)
    values = doc.job("count")
    values["steps"] = 12
    doc.set_job("count", values)
    assert doc.text == TEXT.replace("steps = 10   # ten", "steps = 12   # ten")


def test_new_keys_go_after_the_last_key_not_after_the_next_tables_comment():
    doc = ConfigDocument(TEXT)
    values = doc.job("count")
    del values["every"]
    values["cron"] = "0 9 * * mon-fri"
    values["retry"]["attempts"] = 5
    doc.set_job("count", values)
    text = doc.text
    assert 'retry = { attempts = 5 }\ncron = "0 9 * * mon-fri"\n\n# The second job' in text
    assert "every" not in text
    assert doc.validate().errors == []


def test_keys_of_a_table_with_sub_tables_stay_above_them():
    doc = ConfigDocument(TEXT)
    values = doc.job("other")
    values["description"] = "watches x"
    values["watch"]["patterns"] = ["*.csv"]
    doc.set_job("other", values)
    text = doc.text
    assert 'then = "count"\ndescription = "watches x"\n[jobs.other.watch]' in text
    assert 'folder = "~/x"\npatterns = ["*.csv"]' in text
    assert doc.validate().jobs["other"].common.watch.patterns == ["*.csv"]


def test_rename_keeps_the_place_and_updates_then():
    doc = ConfigDocument(TEXT)
    doc.set_job("counter x", doc.job("count"), old_name="count")
    doc.set_job("other 2", doc.job("other"), old_name="other")
    text = doc.text
    assert text.index('[jobs."counter x"]  # counting') < text.index("# The second job")
    assert 'then = "counter x"' in text and '[jobs."other 2".watch]' in text
    cfg = doc.validate()
    assert cfg.errors == [] and list(cfg.jobs) == ["counter x", "other 2"]


def test_new_job_duplicate_and_delete():
    doc = ConfigDocument(TEXT)
    doc.set_job("report", {"kind": "report", "builtin": "job-activity",
                           "sections": [{"title": "Runs", "query": "SELECT 1\nFROM runs"}],
                           "formats": ["html"]})
    assert '\n\n[jobs.report]\nkind = "report"' in doc.text
    assert '[[jobs.report.sections]]\ntitle = "Runs"\nquery = """\nSELECT 1\nFROM runs"""' in doc.text
    assert doc.job("report")["sections"][0]["query"] == "SELECT 1\nFROM runs"
    copy = doc.duplicate_job("count")
    assert copy == "count copy" and doc.job(copy)["enabled"] is False
    assert doc.duplicate_job("count") == "count copy 2"
    doc.delete_job("count")
    assert "then" not in doc.job("other")
    cfg = doc.validate()
    assert cfg.errors == [] and "count" not in cfg.jobs
    assert doc.text.startswith("# My jobs. Keep this comment.")
    with pytest.raises(UserError, match="no job called 'nope'"):
        doc.delete_job("nope")
    with pytest.raises(UserError, match="already a job called 'other'"):
        doc.set_job("other", {"kind": "demo"}, old_name="report")


def test_jobs_split_around_another_table_are_added_renamed_and_deleted():
    # An alert channel pasted after the jobs, then another job after it: the jobs are
    # then two parts of one table, which the window edits like any other file.
    doc = ConfigDocument(dedent("""
        [jobs.a]
        kind = "demo"

        [alerts.me]
        url = "json://localhost/hook"

        [jobs.b]  # the second part
        kind = "demo"
    """))
    doc.set_job("c", {"kind": "demo", "steps": 2})
    assert doc.duplicate_job("a") == "a copy"
    doc.set_job("b2", doc.job("b"), old_name="b")
    doc.delete_job("a")
    text = doc.text
    assert text.index("[alerts.me]") < text.index("[jobs.b2]  # the second part") \
        < text.index("[jobs.c]")
    cfg = doc.validate()
    assert cfg.errors == [] and sorted(cfg.jobs) == ["a copy", "b2", "c"]


def test_enable_switch_writes_only_what_differs_from_the_default():
    doc = ConfigDocument(TEXT)
    doc.set_enabled("count", False)
    assert 'every = "1h"\nretry = { attempts = 2 }\nenabled = false\n' in doc.text
    doc.set_enabled("count", True)
    assert doc.text == TEXT


def test_settings_are_set_and_removed_and_created_first():
    doc = ConfigDocument(TEXT)
    doc.set_settings({"workers": 3, "notify_success": True})
    assert "workers = 3  # two at once\nnotify_success = true\n" in doc.text
    doc.set_settings({"workers": None})
    assert "workers" not in doc.text
    fresh = ConfigDocument("[jobs.a]\nkind = 'demo'\n")
    fresh.set_settings({"keep_days": 30})
    assert fresh.text == "[settings]\nkeep_days = 30\n\n[jobs.a]\nkind = 'demo'\n"


def test_check_refuses_an_edit_that_breaks_the_job_but_tolerates_old_errors():
    broken = TEXT + '\n[jobs.old]\nkind = "demo"\ncron = "0 25 * * *"\n'
    doc = ConfigDocument(broken)
    baseline = doc.validate()
    assert baseline.errors  # an error that was there before
    doc.set_job("new", {"kind": "demo", "steps": 3})
    doc.check(job="new", baseline=baseline)  # fine: the old error is not ours
    doc.set_job("new", {"kind": "demo", "stepz": 3})
    with pytest.raises(EditRefused) as err:
        doc.check(job="new", baseline=baseline)
    assert "did you mean 'steps'" in str(err.value)


def test_save_is_atomic_and_keeps_the_mode(tmp_path):
    path = tmp_path / "trayjobs.toml"
    path.write_text(TEXT)
    os.chmod(path, 0o600)
    doc = ConfigDocument.load(path)
    doc.set_enabled("count", False)
    doc.save()
    assert path.read_text() == doc.text
    assert (path.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["trayjobs.toml"]
    assert ConfigDocument.load(tmp_path / "missing.toml").job_names() == []


def test_saving_a_jobs_file_that_is_a_link_writes_the_file_it_points_to(tmp_path):
    # The jobs file kept in a dotfiles folder, linked into the config folder: a save put a
    # plain file in the link's place, and the dotfiles copy silently stopped being the one
    # in use.
    real = tmp_path / "dotfiles" / "trayjobs.toml"
    real.parent.mkdir()
    real.write_text(TEXT)
    link = tmp_path / "config" / "trayjobs.toml"
    link.parent.mkdir()
    os.symlink(os.path.relpath(real, link.parent), link)
    doc = ConfigDocument.load(link)
    doc.set_enabled("count", False)
    assert doc.save() == link
    assert os.path.islink(link)
    assert real.read_text() == doc.text
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["config", "dotfiles", "trayjobs.toml",
                                                           "trayjobs.toml"]


def test_a_file_that_is_not_toml_is_refused():
    with pytest.raises(UserError, match="not valid TOML"):
        ConfigDocument("[jobs.a\n")


def test_toml_values_on_their_own():
    assert parse_toml_value('{ zip = "text" }') == {"zip": "text"}
    assert parse_toml_value("[1, 2]") == [1, 2]
    with pytest.raises(ValueError):
        parse_toml_value("{ zip = }")


def test_text_of_several_lines_reads_back_as_it_was_written():
    # A value of several lines gained a line break at its end ("SELECT 1\nFROM t" read back
    # as "SELECT 1\nFROM t\n"), and a Windows line break lost its carriage return.
    values = ["SELECT 1\nFROM t", "ends\n", "\nstarts", "crlf\r\nline", 'ends with "\n"',
              "back\\slash\n\\", 'q"""\n"""', "tab\t\n\x01 ü 😀"]
    doc = ConfigDocument("")
    for i, v in enumerate(values):
        doc.set_job(f"j{i}", {"kind": "command", "command": v, "env": {"A": v}})
    jobs = tomllib.loads(doc.text)["jobs"]
    for i, v in enumerate(values):
        assert jobs[f"j{i}"]["command"] == v and jobs[f"j{i}"]["env"]["A"] == v
    assert 'command = """\nSELECT 1\nFROM t"""\n' in doc.text  # still easy to read


def test_a_reports_sections_read_back_unchanged_in_the_editor(qtbot):
    from trayjobs.ui.editor.widgets import SectionsEditor
    box = SectionsEditor("sections")
    qtbot.addWidget(box)
    sections = [{"title": "Runs", "query": "SELECT job, count(*)\nFROM runs GROUP BY job"}]
    box.set_value(True, sections)
    assert box.value() == (True, sections)


def test_deleting_a_job_takes_its_own_comments_and_leaves_the_next_jobs():
    # The comment above a job's header is read as the end of the job before it: deleting
    # "b" left "# b: the nightly thing" above "c", and took "# c comes last" away with b.
    text = dedent('''\
        # my jobs

        [jobs.a]
        kind = "demo"
        # steps = 3

        # b: the nightly thing
        # runs at night
        [jobs.b]
        kind = "demo"  # demo

        [jobs.b.watch]
        folder = "/tmp"

        # c comes last
        [jobs.c]
        kind = "demo"
        ''')
    doc = ConfigDocument(text)
    doc.delete_job("b")
    assert doc.text == dedent('''\
        # my jobs

        [jobs.a]
        kind = "demo"
        # steps = 3

        # c comes last
        [jobs.c]
        kind = "demo"
        ''')
    doc = ConfigDocument(text)
    doc.delete_job("c")
    assert doc.text == text.split("\n# c comes last")[0]


def test_a_job_renamed_or_deleted_in_the_file_meanwhile_is_not_saved_again():
    # Saved from an editor opened before, it came back as a second job beside the renamed one
    # (both then ran).
    doc = ConfigDocument(TEXT.replace("[jobs.count]", "[jobs.counter]"))
    was = ConfigDocument(TEXT).job("count")
    with pytest.raises(UserError, match="count is no longer in the jobs file"):
        doc.set_job("count", was, old_name="count", opened_with=was)
    assert "count" not in doc.job_names()


# A jobs file as pieces: each job's own (its table, its sub-tables, the comments just above
# its header and just under its keys, the blank line before them) and the lines that are
# no job's. Deleting a job must give the file without its pieces, byte for byte.
ONE_PART = [
    (None, "# My jobs.\n# The top of the file, no job's.\n"),
    ("a", '\n# a: the first job\n# in two lines\n[jobs.a]  # first\nkind = "demo"\n'
          'steps = 1\n# steps = 3 (put aside)\n\n[jobs.a.retry]\nattempts = 2\n'),
    ("b", '\n# b: the second\n[jobs.b]\nkind = "demo"  # demo\n\n'
          '[jobs.b.watch]\nfolder = "/tmp"\n# patterns = ["*.csv"]\n'),
    (None, "\n# ---- the nightly ones ----\n"),
    ("c", '\n# c: nightly\n[jobs.c]\nkind = "demo"\ncron = "0 3 * * *"\n'),
    ("d", '\n[jobs.d]\nkind = "demo"\n# d has no comment above it\n'),
    (None, "\n# The end of the file, no job's.\n"),
]
SPLIT = [
    (None, "# top\n[settings]\nworkers = 2  # two at once\n"),
    ("a", '\n# a: first after the settings\n[jobs.a]\nkind = "demo"\n'),
    ("b", '\n# b: before the alerts\n[jobs.b]\nkind = "demo"\n'),
    (None, '\n# an alert channel, pasted between the jobs\n[alerts.me]\n'
           'url = "json://localhost/hook"\n'),
    ("c", '\n# c: first of the second part\n[jobs.c]\nkind = "demo"\n'),
    ("d", '\n# d: the last\n[jobs.d]\nkind = "demo"\n[jobs.d.retry]\nattempts = 3\n'),
]


@pytest.mark.parametrize("pieces", [ONE_PART, SPLIT], ids=["one part", "split"])
def test_deleting_any_job_keeps_every_other_line_as_it_was(pieces):
    # The first job took the comments above the second job's header with it.
    text = "".join(p for _job, p in pieces)
    jobs = [job for job, _p in pieces if job]
    for job in jobs:
        doc = ConfigDocument(text)
        doc.delete_job(job)
        assert doc.text == "".join(p for j, p in pieces if j != job), job
        left = tomllib.loads(doc.text)["jobs"]
        assert sorted(left) == [j for j in jobs if j != job]
        assert all(left[j] == tomllib.loads(text)["jobs"][j] for j in left)


def test_deleting_the_job_at_the_very_top_leaves_no_blank_first_line():
    text = '[jobs.a]\nkind = "demo"\n\n# b: its own words\n[jobs.b]\nkind = "demo"\n'
    doc = ConfigDocument(text)
    doc.delete_job("a")
    assert doc.text == '# b: its own words\n[jobs.b]\nkind = "demo"\n'
    # with the jobs under a [jobs] header of their own, the comments after it stay there
    text = '[jobs]\n# every job here runs at night\n\n# a\n[jobs.a]\nkind = "demo"\n\n' \
           '# b\n[jobs.b]\nkind = "demo"\n'
    doc = ConfigDocument(text)
    doc.delete_job("a")
    assert doc.text == '[jobs]\n# every job here runs at night\n\n# b\n[jobs.b]\nkind = "demo"\n'


def test_a_name_with_spaces_around_it_is_refused_not_trimmed_into_another():
    doc = ConfigDocument(TEXT)
    with pytest.raises(UserError, match="cannot begin or end with a space: write 'count'"):
        doc.set_job("count ", {"kind": "demo"})
    with pytest.raises(UserError, match="write 'new'"):
        doc.set_job(" new", {"kind": "demo"}, old_name="other")
    assert doc.text == TEXT


@pytest.mark.parametrize("bom", ["", "\ufeff"])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_a_file_with_a_byte_order_mark_or_crlf_line_ends_is_edited_and_keeps_them(
        tmp_path, bom, eol):
    # Notepad's files: the editor opened none with a BOM ("not valid TOML, fix it first"),
    # and the lines it added to a CRLF file ended in LF alone.
    path = tmp_path / "trayjobs.toml"
    lines = ["# mine", "[jobs.a]", 'kind = "demo"', "steps = 3", "", "[jobs.b]", 'kind = "demo"', ""]
    path.write_bytes((bom + eol.join(lines)).encode())
    doc = ConfigDocument.load(path)
    values = doc.job("a")
    values.update(steps=5, description="two\nlines", retry={"attempts": 2})
    doc.set_job("a", values, old_name="a", opened_with=doc.job("a"))
    doc.check(job="a")
    doc.save()
    data = path.read_bytes().decode()
    assert data.startswith(bom + "# mine" + eol)
    assert data.count("\n") == data.count(eol) and "steps = 5" + eol in data
    assert tomllib.loads(data.removeprefix("\ufeff"))["jobs"]["a"] == values
    assert ConfigDocument.load(path).validate().errors == []


@pytest.mark.parametrize("before, after", [
    # Keys indented with tabs: the new one is too.
    ('[jobs.a]\n\tkind = "demo"  # c\n\tsteps = 3\n',
     '[jobs.a]\n\tkind = "demo"  # c\n\tsteps = 3\n\tdescription = "x"\n'),
    # An inline job, and an inline table in it: the key goes inside the space before the
    # brace, after a comma and a space, as the file writes them.
    ('[jobs]\na = { kind = "demo", retry = { attempts = 2 } }\n',
     '[jobs]\na = { kind = "demo", retry = { attempts = 2, backoff = "1m" }, description = "x" }\n'),
    ('[jobs]\na = {kind = "demo"}\n', '[jobs]\na = {kind = "demo", description = "x"}\n'),
])
def test_a_key_added_is_written_as_the_keys_beside_it(before, after):
    doc = ConfigDocument(before)
    values = doc.job("a")
    values["description"] = "x"
    if "retry" in values:
        values["retry"]["backoff"] = "1m"
    doc.set_job("a", values)
    assert doc.text == after


def test_dotted_keys_are_changed_in_place_and_a_key_removed_from_them():
    # retry.attempts = 2 was rewritten as retry = {...} after the job's last key, its
    # comments lost; a key removed from a job written in dotted keys raised AttributeError.
    doc = ConfigDocument('[jobs.a]\nkind = "demo"\nretry.attempts = 2  # a\n'
                         'retry.jitter = false  # j\nsteps = 3\n')
    values = doc.job("a")
    values["retry"]["attempts"] = 5
    doc.set_job("a", values)
    assert doc.text == ('[jobs.a]\nkind = "demo"\nretry.attempts = 5  # a\n'
                        'retry.jitter = false  # j\nsteps = 3\n')
    doc = ConfigDocument('[jobs]\na.kind = "demo"\na.steps = 3\nb.kind = "demo"\n')
    values = doc.job("a")
    del values["steps"]
    doc.set_job("a", values)
    doc.set_enabled("a", False)
    doc.set_enabled("a", True)
    assert doc.text == '[jobs]\na.kind = "demo"\nb.kind = "demo"\n'


def test_a_job_with_a_table_further_down_is_deleted_whole_and_not_renamed_in_half():
    # Its [jobs.a.watch] after another job: Delete and Rename failed with "'dict' object
    # has no attribute 'body'".
    text = ('[jobs.a]\nkind = "demo"\n\n[jobs.b]\nkind = "demo"\nalways = ["a", "c"]  # hooks\n\n'
            '[jobs.a.watch]\nfolder = "~/x"\n\n[jobs.c]\nkind = "demo"\n')
    doc = ConfigDocument(text)
    with pytest.raises(UserError, match=r"more than one place .* one \[jobs\.a\] header"):
        doc.set_job("z", doc.job("a"), old_name="a")
    assert doc.text == text
    doc.delete_job("a")
    assert doc.text == ('[jobs.b]\nkind = "demo"\nalways = ["c"]  # hooks\n\n'
                        '[jobs.c]\nkind = "demo"\n')
    assert doc.validate().errors == []


def test_a_text_of_several_lines_in_a_crlf_file_reads_as_the_engine_reads_it():
    # tomlkit keeps the CR of each line break: the form showed (and previewed, and ran
    # checks on) a script of 'echo a\r\necho b' where the job runs 'echo a\necho b'.
    text = ('[jobs.a]\r\nkind = "command"\r\ncommand = """\r\necho a\r\necho b"""\r\n'
            'env = { X = """\r\nx\\r\r\n""" }\r\n')
    doc = ConfigDocument(text)
    assert doc.job("a") == tomllib.loads(text)["jobs"]["a"]
    assert doc.job("a")["command"] == "echo a\necho b" and doc.job("a")["env"]["X"] == "x\r\n"
    doc.set_job("a", doc.job("a"), old_name="a", opened_with=doc.job("a"))
    assert doc.text == text


def test_jobs_written_in_dotted_keys_at_the_top_are_deleted_and_not_renamed_into_a_mess():
    # Deleting one that another's hooks named failed with IndexError; renaming one made it
    # a [jobs.q] table, and the dotted keys after it its own ("job 'q', key 'jobs'").
    text = ('jobs.a.kind = "demo"\njobs.b.kind = "demo"\njobs.b.then = "a"\n'
            'jobs.b.always = ["a", "c"]\njobs.c.kind = "demo"\n')
    doc = ConfigDocument(text)
    with pytest.raises(UserError, match="so it was not renamed"):
        doc.set_job("q", doc.job("a"), old_name="a")
    assert doc.text == text
    doc.delete_job("a")
    assert doc.text == 'jobs.b.kind = "demo"\njobs.b.always = ["c"]\njobs.c.kind = "demo"\n'

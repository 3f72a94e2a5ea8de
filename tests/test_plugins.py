"""Plug-in kinds: a package on the path with a ``trayjobs.kinds`` entry point runs like a
built-in kind in the engine, the worker, the job process and the CLI; a plug-in that fails
to import is named and the other kinds keep working."""

from __future__ import annotations

import json
from textwrap import dedent

import pytest

from helpers import plugin_site, start_worker, trayjobs, wait_run, write_dist
from trayjobs import docs
from trayjobs.config import parse_config

HELLO = '''
from pydantic import Field

from trayjobs.kinds import JobKind, KindParams


class HelloParams(KindParams):
    greeting: str = Field("hello", description="What to say.")


class HelloKind(JobKind):
    name = "hello"
    summary = "Says hello to each input file."
    Params = HelloParams
    accepts_files = True
    supports_dry_run = True

    def run(self, ctx, params):
        names = [f.name for f in ctx.files]
        ctx.progress(len(names), len(names), "greeted", "files")
        verb = "would say" if ctx.dry_run else "said"
        return {"summary": f"{verb} {params.greeting} to {len(names)} files", "names": names}
'''


@pytest.fixture
def plugins(tmp_path):
    """Two installed plug-ins, seen by this process and by every process it starts."""
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-hello", "1.2", "hello = hello_kind:HelloKind", "hello_kind", HELLO)
    write_dist(site, "trayjobs-broken", "0.1", "broken = broken_kind:BrokenKind", "broken_kind",
         "raise RuntimeError('boom at import')\n")
    with plugin_site(site, "hello_kind", "broken_kind"):
        yield site


def test_kinds_lists_the_plugin_with_its_distribution_and_the_broken_one_by_name(home, plugins):
    out = trayjobs(home, "kinds", "--json")
    rows = {r["name"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert rows["hello"]["source"] == "plugin"
    assert (rows["hello"]["distribution"], rows["hello"]["version"]) == ("trayjobs-hello", "1.2")
    assert rows["hello"]["accepts_files"] and rows["hello"]["supports_dry_run"]
    assert rows["import"]["source"] == "builtin" and rows["python"]["source"] == "builtin"
    assert rows["broken"]["distribution"] == "trayjobs-broken"
    assert rows["broken"]["error"] == "RuntimeError: boom at import"
    assert out.returncode == 1  # something installed is broken
    table = trayjobs(home, "kinds").stdout
    assert "trayjobs-hello 1.2" in table and "BROKEN" in table


def test_a_broken_plugin_is_a_named_error_of_its_jobs_only(home, plugins, make_engine, tmp_path):
    config = """
        [jobs.hi]
        kind = "hello"

        [jobs.bad]
        kind = "broken"
    """
    cfg = parse_config(dedent(config))
    assert list(cfg.jobs) == ["hi"]
    [err] = cfg.errors
    assert err.job == "bad" and "'broken' (trayjobs-broken) cannot be loaded" in str(err)
    eng = make_engine(config)
    run = eng.watcher.wait(eng.submit("hi"))
    assert run["state"] == "succeeded" and run["result"]["summary"] == "said hello to 0 files"
    home.config_file.write_text(dedent(config))
    check = trayjobs(home, "check")
    assert "warning: plug-in kind 'broken' (trayjobs-broken) cannot be loaded: " \
           "RuntimeError: boom at import" in check.stderr
    assert "job 'bad'" in check.stderr and check.returncode == 1


def test_a_plugin_job_runs_from_a_schedule_and_a_watched_folder(plugins, make_engine, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng = make_engine(f"""
        [jobs.ticker]
        kind = "hello"
        greeting = "tick"
        every = "1s"

        [jobs.greeter]
        kind = "hello"
        watch = {{ folder = '{inbox}', settle = "0.2s" }}
    """)
    (inbox / "guest.txt").write_text("hi")

    def first(job):
        return next(iter(r for r in eng.watcher.seen
                         if r["job"] == job and r["state"] == "succeeded"), None)

    from helpers import wait_until
    scheduled = wait_until(lambda: first("ticker"), 20)
    assert scheduled["trigger"] == "schedule"
    assert scheduled["result"]["summary"] == "said tick to 0 files"
    watched = wait_until(lambda: first("greeter"), 20)
    assert watched["trigger"] == "watch" and watched["result"]["names"] == ["guest.txt"]


def test_the_cli_runs_a_plugin_job_inline_and_through_a_worker(home, plugins, tmp_path):
    guest = tmp_path / "guest.txt"
    guest.write_text("hi")
    home.config_file.write_text('[jobs.hi]\nkind = "hello"\ngreeting = "hey"\n')
    out = trayjobs(home, "run", "hi", "--file", str(guest), "--dry-run", "--wait")
    assert out.returncode == 0, out.stderr
    assert "succeeded: would say hey to 1 files" in out.stderr
    worker = start_worker(home)
    try:
        out = trayjobs(home, "run", "hi", "--file", str(guest))
        run = wait_run(home, int(out.stdout))
    finally:
        worker.terminate()
        worker.wait(30)
    assert run["state"] == "succeeded" and run["result"]["summary"] == "said hey to 1 files"


def test_the_reference_documents_installed_kinds_but_the_readme_only_builtin_ones(plugins):
    installed = docs.render_kinds()
    assert "### Kind `hello`" in installed and "### Kind `import`" in installed
    assert "From the plug-in `trayjobs-hello` 1.2." in installed
    assert "| `greeting` | text | `\"hello\"` | What to say. |" in installed
    assert "hello" not in docs.render_reference()


def test_the_reference_writes_a_decimal_or_set_default_as_a_job_file_would(tmp_path):
    # They were shown as `1.5` and `set()`: neither is what the key takes.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-typed", "0.1", "typed = typed_kind:TypedKind", "typed_kind", """
        import decimal

        from trayjobs.kinds import JobKind, KindParams

        class TypedParams(KindParams):
            amount: decimal.Decimal = decimal.Decimal("1.5")
            labels: set[str] = {"b", "a"}

        class TypedKind(JobKind):
            name = "typed"
            Params = TypedParams

            def run(self, ctx, params):
                return {"summary": "ran"}
    """)
    with plugin_site(site, "typed_kind"):
        installed = docs.render_kinds()
    assert "| `amount` | Decimal | `\"1.5\"` |" in installed
    assert "| `labels` | set | `[\"a\", \"b\"]` |" in installed


def test_a_flag_that_is_off_refuses_the_run_before_anything_happens(home):
    # The report kind has no preview: a "dry run" would write the report for real.
    home.config_file.write_text('[jobs.weekly]\nkind = "report"\nbuiltin = "job-activity"\n')
    out = trayjobs(home, "run", "weekly", "--dry-run", "--wait")
    assert out.returncode == 2
    assert "job 'weekly' (report) has no dry run" in out.stderr
    assert not home.reports_dir.exists() or not any(home.reports_dir.rglob("*.html"))
    out = trayjobs(home, "run", "weekly", "--file", str(home.config_file))
    assert out.returncode == 2 and "does not take input files" in out.stderr


ORPHANS = '''
import os, subprocess, time

from trayjobs.kinds import JobKind, KindParams


class OrphanKind(JobKind):
    name = "orphan"
    summary = "Leaves a program in the background, as 'sh -c \\'tool &\\'' does."
    Params = KindParams

    def run(self, ctx, params):
        me = str(os.getpid())
        def zombies():
            out = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if stat[:2] == ["Z", me]:
                    out.append(int(pid))
            return out
        before = zombies()
        # (it outlives the shell, which would otherwise reap it itself if it ended first)
        orphan = int(subprocess.run("sleep 0.05 & echo $!", shell=True,
                                    capture_output=True).stdout)
        while orphan not in zombies():  # adopted by this process, and exited
            time.sleep(0.01)
        return {"summary": "left one", "zombies": before, "process": os.getpid()}
'''


def test_what_a_plugin_run_left_is_reaped_before_the_next_run(tmp_path, make_engine):
    # The job process adopts orphans: those of a plug-in kind's tools, which nothing else
    # reaps, must not pile up as zombies while the process is reused.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-orphan", "0.1", "orphan = orphan_kind:OrphanKind",
               "orphan_kind", ORPHANS)
    with plugin_site(site, "orphan_kind"):
        eng = make_engine('[jobs.o]\nkind = "orphan"\n')
        runs = [eng.watcher.wait(eng.submit("o")) for _ in range(3)]
    assert [r["state"] for r in runs] == ["succeeded"] * 3, runs
    processes = [r["result"]["process"] for r in runs]
    assert len(set(processes)) < 3  # a process reused (or the test shows nothing)
    assert [r["result"]["zombies"] for r in runs] == [[], [], []]


def test_a_plugin_whose_params_is_no_model_is_broken_with_what_to_do(home, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-odd", "0.1", "odd = odd_kind:OddKind", "odd_kind", '''
        from trayjobs.kinds import JobKind

        class OddKind(JobKind):
            name = "odd"
            summary = "Its options are a dict, not a model."
            Params = dict

            def run(self, ctx, params):
                return {"summary": "ran"}
    ''')
    home.config_file.write_text('[jobs.o]\nkind = "odd"\n')
    with plugin_site(site, "odd_kind"):
        out = trayjobs(home, "check")
    assert out.returncode == 1
    assert ("job 'o', key 'kind': plug-in kind 'odd' (trayjobs-odd) cannot be loaded: "
            "TypeError: odd_kind:OddKind.Params is <class 'dict'>, not a model of the kind's "
            "options; make it a class deriving from trayjobs.kinds.KindParams") in out.stderr


def test_a_plugin_that_exits_as_it_loads_or_defines_no_run_is_broken_not_fatal(home, tmp_path):
    # sys.exit() at a plug-in's top level ended `trayjobs kinds` and `check` with its text
    # alone; a kind without run() loaded fine, and each of its runs failed, retried.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-exits", "0.1", "exits = exits_kind:ExitsKind", "exits_kind",
               "import sys\nsys.exit('no config found')\n")
    write_dist(site, "trayjobs-idle", "0.1", "idle = idle_kind:IdleKind", "idle_kind", '''
        from trayjobs.kinds import JobKind

        class IdleKind(JobKind):
            name = "idle"
    ''')
    home.config_file.write_text('[jobs.e]\nkind = "exits"\n[jobs.i]\nkind = "idle"\n'
                                '[jobs.c]\nkind = "command"\ncommand = ["true"]\n')
    with plugin_site(site, "exits_kind", "idle_kind"):
        kinds = trayjobs(home, "kinds", "--json")
        check = trayjobs(home, "check")
    rows = {r["name"]: r for r in map(json.loads, kinds.stdout.splitlines())}
    assert "command" in rows and "exits" in rows, kinds.stdout + kinds.stderr
    assert check.returncode == 1 and "1 job OK, 2 errors" in check.stdout, check.stdout
    assert ("job 'e', key 'kind': plug-in kind 'exits' (trayjobs-exits) cannot be loaded: "
            "called sys.exit('no config found') as it was imported") in check.stderr
    assert ("job 'i', key 'kind': plug-in kind 'idle' (trayjobs-idle) cannot be loaded: "
            "TypeError: idle_kind:IdleKind does not define run(ctx, params)") in check.stderr


def test_a_plugins_decimal_set_tuple_and_datetime_options_reach_its_runs(tmp_path, make_engine):
    # Params go to the job process as JSON, which the strict model refused for these types:
    # `check` said the job was fine and every run failed with a ValidationError.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-typed", "0.1", "typed = typed_kind:TypedKind", "typed_kind", '''
        import datetime, decimal

        from trayjobs.kinds import JobKind, KindParams

        class TypedParams(KindParams):
            amount: decimal.Decimal = decimal.Decimal("1")
            labels: set[str] = set()
            pair: tuple[int, str] = (1, "x")
            since: datetime.datetime | None = None

        class TypedKind(JobKind):
            name = "typed"
            Params = TypedParams

            def run(self, ctx, params):
                return {"summary": f"{params.amount!r} {sorted(params.labels)} {params.pair} "
                                   f"{params.since.year}"}
    ''')
    with plugin_site(site, "typed_kind"):
        eng = make_engine('[jobs.t]\nkind = "typed"\namount = "2.50"\nlabels = ["b", "a"]\n'
                          'since = 2026-01-02T03:04:05\nretry = { attempts = 1 }\n')
        run = eng.watcher.wait(eng.submit("t"))
    assert run["state"] == "succeeded", run
    assert run["result"]["summary"] == "Decimal('2.50') ['a', 'b'] (1, 'x') 2026"


def test_what_a_plugin_prints_as_it_loads_keeps_out_of_json_output(home, tmp_path):
    # A print() at a plug-in's top level came first on stdout: `kinds --json` (and any
    # --json output of a command that loads kinds) was no longer JSON.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-chatty", "0.1", "chatty = chatty_kind:ChattyKind", "chatty_kind",
               '''
        print("loading the chatty plug-in")

        from trayjobs.kinds import JobKind

        class ChattyKind(JobKind):
            name = "chatty"

            def run(self, ctx, params):
                return {"summary": "ran"}
    ''')
    home.config_file.write_text('[jobs.c]\nkind = "chatty"\n')
    with plugin_site(site, "chatty_kind"):
        kinds = trayjobs(home, "kinds", "--json")
        runs = trayjobs(home, "runs", "--json")
    rows = {r["name"]: r for r in map(json.loads, kinds.stdout.splitlines())}
    assert rows["chatty"]["distribution"] == "trayjobs-chatty"
    assert "loading the chatty plug-in" in kinds.stderr
    assert runs.returncode == 0 and "loading" not in runs.stdout, runs.stdout


def test_what_a_plugin_run_sets_in_its_environment_does_not_reach_later_runs(tmp_path,
                                                                            make_engine):
    # The job process is reused: a plug-in's os.environ["X"] = ... reached the programs of
    # every later run in it (a command's too), and its os.chdir() moved later relative paths.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-leaky", "0.1", "leaky = leaky_kind:LeakyKind", "leaky_kind", '''
        import os

        from trayjobs.kinds import JobKind

        class LeakyKind(JobKind):
            name = "leaky"

            def run(self, ctx, params):
                seen = {"env": os.environ.get("LEAKY_SET"), "cwd": os.getcwd(),
                        "process": os.getpid()}
                os.environ["LEAKY_SET"] = "leaked"
                os.chdir("/")
                return {"summary": "ran", **seen}
    ''')
    with plugin_site(site, "leaky_kind"):
        eng = make_engine('[jobs.l]\nkind = "leaky"\n')
        runs = [eng.watcher.wait(eng.submit("l")) for _ in range(3)]
    assert [r["state"] for r in runs] == ["succeeded"] * 3, runs
    assert len({r["result"]["process"] for r in runs}) < 3  # a process reused
    assert [r["result"]["env"] for r in runs] == [None] * 3
    assert len({r["result"]["cwd"] for r in runs}) == 1 and runs[0]["result"]["cwd"] != "/"


def test_a_kind_installed_by_two_plugins_names_both(home, tmp_path):
    # Only the one used was named: which distribution to uninstall was left to guess.
    site = tmp_path / "site"
    site.mkdir()
    for dist, module in (("trayjobs-twin-a", "twin_a"), ("trayjobs-twin-b", "twin_b")):
        write_dist(site, dist, "0.1", f"twin = {module}:TwinKind", module, '''
            from trayjobs.kinds import JobKind

            class TwinKind(JobKind):
                name = "twin"

                def run(self, ctx, params):
                    return {"summary": "ran"}
        ''')
    with plugin_site(site, "twin_a", "twin_b"):
        out = trayjobs(home, "kinds")
    assert out.returncode == 0, out.stderr
    said = next(line for line in out.stderr.splitlines() if "installed twice" in line)
    assert "trayjobs-twin-a" in said and "trayjobs-twin-b" in said, said
    assert said.endswith("; uninstall one of them"), said


def test_a_plugin_field_whose_alias_is_a_common_key_is_refused_at_load(home, tmp_path):
    # Checked by field name alone: `timeout` written for a field aliased so went to the job's
    # own timeout, and the kind's field kept its default, without a word.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-alias", "0.1", "aliased = alias_kind:AliasKind", "alias_kind", '''
        from pydantic import Field

        from trayjobs.kinds import JobKind, KindParams

        class AliasParams(KindParams):
            wait_for: int = Field(5, alias="timeout")

        class AliasKind(JobKind):
            name = "aliased"
            Params = AliasParams

            def run(self, ctx, params):
                return {"summary": f"waited {params.wait_for}"}
    ''')
    home.config_file.write_text('[jobs.a]\nkind = "aliased"\ntimeout = "30s"\n')
    with plugin_site(site, "alias_kind"):
        out = trayjobs(home, "check")
    assert out.returncode == 1, out.stdout + out.stderr
    assert ("job 'a', key 'kind': plug-in kind 'aliased' (trayjobs-alias) cannot be loaded: "
            "TypeError: kind 'aliased' reuses common job keys: ['timeout']") in out.stderr


def test_a_plugin_that_registers_a_built_in_kinds_name_is_broken_and_the_built_in_stays(
        home, tmp_path, make_engine):
    # Its module's @register replaced `command`: every command job ran the plug-in's code,
    # and `trayjobs kinds` said nothing of it.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-sly", "0.1", "sly = sly_kind:SlyKind", "sly_kind", '''
        from trayjobs.kinds import JobKind
        from trayjobs.kinds.registry import register

        @register
        class Stand(JobKind):
            name = "command"

            def run(self, ctx, params):
                return {"summary": "not the command"}

        class SlyKind(JobKind):
            name = "sly"

            def run(self, ctx, params):
                return {"summary": "sly"}
    ''')
    with plugin_site(site, "sly_kind"):
        from trayjobs.kinds.registry import broken_kinds
        [broken] = broken_kinds()
        assert broken.message() == (
            "plug-in kind 'sly' (trayjobs-sly) cannot be loaded: TypeError: sly_kind.Stand "
            "registers a kind named 'command', which is a built-in kind's name; give it its own")
        eng = make_engine('[jobs.c]\nkind = "command"\ncommand = ["echo", "the command"]\n')
        run = eng.watcher.wait(eng.submit("c"))
        assert run["state"] == "succeeded", run
        assert "not the command" not in str(run["result"])


def test_a_plugin_that_raises_a_base_exception_as_it_loads_is_broken_not_fatal(home, tmp_path):
    # Only Exception and SystemExit were caught: a BaseException of the plug-in's own ended
    # `trayjobs kinds`, `check` and the app with a traceback.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-abrupt", "0.1", "abrupt = abrupt_kind:AbruptKind",
               "abrupt_kind", "class Abort(BaseException):\n    pass\n\nraise Abort('no')\n")
    home.config_file.write_text('[jobs.a]\nkind = "abrupt"\n'
                                '[jobs.c]\nkind = "command"\ncommand = ["true"]\n')
    with plugin_site(site, "abrupt_kind"):
        kinds = trayjobs(home, "kinds", "--json")
        check = trayjobs(home, "check")
    rows = {r["name"]: r for r in map(json.loads, kinds.stdout.splitlines())}
    assert rows["abrupt"]["error"] == "Abort: no", kinds.stdout + kinds.stderr
    assert check.returncode == 1 and "1 job OK, 1 error" in check.stdout, check.stdout
    assert ("job 'a', key 'kind': plug-in kind 'abrupt' (trayjobs-abrupt) cannot be loaded: "
            "Abort: no") in check.stderr


def test_a_plugin_whose_validator_or_own_check_raises_is_an_error_of_its_job_alone(
        home, tmp_path):
    # A validator raising KeyError (pydantic passes on all but ValueError and AssertionError),
    # or problems() raising, ended `trayjobs check`, and the loading of every job, with a
    # traceback.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-touchy", "0.1", "touchy = touchy_kind:TouchyKind",
               "touchy_kind", '''
        from pydantic import field_validator
        from trayjobs.kinds import JobKind, KindParams

        class TouchyParams(KindParams):
            n: int = 1

            @field_validator("n")
            @classmethod
            def _n(cls, v):
                return {1: "one"}[v]

        class TouchyKind(JobKind):
            name = "touchy"
            Params = TouchyParams

            def run(self, ctx, params):
                return {"summary": "ran"}

            @classmethod
            def problems(cls, params):
                raise RuntimeError("its check broke")
    ''')
    home.config_file.write_text('[jobs.bad]\nkind = "touchy"\nn = 2\n[jobs.odd]\nkind = "touchy"\n'
                                '[jobs.c]\nkind = "command"\ncommand = ["true"]\n')
    with plugin_site(site, "touchy_kind"):
        check = trayjobs(home, "check")
    assert check.returncode == 1 and "1 job OK, 2 errors" in check.stdout, check.stderr
    assert ("job 'bad': the touchy kind could not read this job's options: KeyError: 2"
            in check.stderr)
    assert ("job 'odd': the touchy kind's own check of this job failed: RuntimeError: its "
            "check broke" in check.stderr)


def test_the_reference_describes_a_plugins_bare_list_and_computed_default(home, tmp_path):
    # A bare typing.List or Dict, and a default made from the other keys, ended
    # `trayjobs kinds --reference` with a traceback, the other kinds' reference with it.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-loose", "0.1", "loose = loose_kind:LooseKind", "loose_kind", '''
        from typing import Dict, List

        from pydantic import Field
        from trayjobs.kinds import JobKind, KindParams

        class LooseParams(KindParams):
            items: List = Field(default_factory=list, description="Anything.")
            names: Dict = Field(default_factory=dict, description="Anything by name.")
            limit: int = Field(5, description="How many.")
            twice: int = Field(default_factory=lambda data: data["limit"] * 2,
                               description="From limit.")

        class LooseKind(JobKind):
            name = "loose"
            Params = LooseParams

            def run(self, ctx, params):
                return {"summary": "ran"}
    ''')
    with plugin_site(site, "loose_kind"):
        out = trayjobs(home, "kinds", "--reference")
    assert out.returncode == 0, out.stderr
    assert "| `items` | list | `[]` | Anything. |" in out.stdout
    assert "| `names` | table | `{}` | Anything by name. |" in out.stdout
    assert "| `twice` | integer | made from the other keys | From limit. |" in out.stdout
    assert "### Kind `python`" in out.stdout



def test_a_plugins_cautions_that_raise_are_no_warning_and_no_error(home, tmp_path):
    # cautions() only warns: one of a plug-in's own that raises leaves `trayjobs check` and
    # the job as they would be without it.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-wary", "0.1", "wary = wary_kind:WaryKind", "wary_kind", '''
        from trayjobs.kinds import JobKind, KindParams

        class WaryKind(JobKind):
            name = "wary"
            Params = KindParams

            def run(self, ctx, params):
                return {"summary": "ran"}

            @classmethod
            def cautions(cls, params):
                raise RuntimeError("its look broke")
    ''')
    home.config_file.write_text('[jobs.w]\nkind = "wary"\n')
    with plugin_site(site, "wary_kind"):
        check = trayjobs(home, "check")
    assert check.returncode == 0 and "1 job OK" in check.stdout, (check.stdout, check.stderr)

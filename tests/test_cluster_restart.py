"""A changed [cluster] waits for a restart: the queue and the run history this process
uses stay those it started with, and one that left the cluster takes no new shared run."""

from __future__ import annotations

from trayjobs.engine.control import Control


def test_queue_after_a_reload_is_the_one_of_the_history(home, write_config):
    """The queue read [cluster] redis from the current file the first time it was used:
    after a reload that added Redis, the queue was on Redis while the history was still
    this machine's own file."""
    write_config('[jobs.a]\nkind = "command"\ncommand = "true"\n')
    control = Control(home)
    try:
        write_config('[cluster]\nredis = "redis://127.0.0.1:1/0"\n\n'
                     '[jobs.a]\nkind = "command"\ncommand = "true"\n')
        control.reload_config()
        assert control.config.cluster.redis is not None  # the file says Redis now
        assert not control.queue.shared  # the queue is still the home's own file
        assert control.queue.redis_url is None
    finally:
        control.close()

"""Secrets named in job settings as ``{ secret = "name" }``, kept in the system keyring.

Values live only in the keyring (through the ``keyring`` library: the Secret Service
on Linux, that is GNOME Keyring or KWallet; the Keychain on macOS; the Credential
Locker on Windows) under the service ``trayjobs``. We never write a value anywhere
else. A keyring cannot list what it holds, so the *names* are kept beside the values
under a reserved key, for ``trayjobs secret list``.

A job's secret is read in the job process when its run needs it
(:func:`resolve_secret`), never when the config loads, so it is in no run row and no
config the engine holds. Every value read that way is remembered until the run ends,
and :func:`mask` replaces it by ``***`` in whatever the job process sends the engine
(log lines, progress, the error, the result): a program that prints its token does
not put it in the log.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager, suppress
from typing import Any, Iterator

from pydantic import Field, field_validator

from .errors import UserError
from .kinds.base import KindParams

__all__ = ["SERVICE", "MASK", "SecretRef", "SecretError", "NoKeyring", "UnknownSecret",
           "set_secret", "get_secret", "delete_secret", "list_names", "secret_exists",
           "check_name", "resolve_secret", "secret_refs", "mask", "forget_revealed",
           "StreamMask", "begun_at_end"]

SERVICE = "trayjobs"
#: Where the list of names is kept; a secret's name cannot start with ":".
INDEX_KEY = ":names"
MASK = "***"

NO_KEYRING = (
    "no system keyring found: install and unlock GNOME Keyring or KWallet (any Secret "
    "Service on the session bus; `gnome-keyring` on Debian and Ubuntu), or, if you accept "
    "secrets kept in a plain file, `pip install keyrings.alt` and set "
    "PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring")


class SecretRef(KindParams):
    """A setting whose value is a stored secret: ``{ secret = "name" }``."""

    secret: str = Field(min_length=1, description="The name of a stored secret "
                                                  "(`trayjobs secret set NAME`).")

    @field_validator("secret")
    @classmethod
    def _name(cls, v: str) -> str:
        # A name no secret can have is this job's error: found when a run or `check` looked
        # it up, it failed `check` as a whole.
        try:
            return check_name(v)
        except UserError as exc:
            raise ValueError(str(exc)) from None


NO_COLLECTION = (
    "the system keyring has no keyring to keep secrets in yet, and no one could be asked "
    "for the password of a new one (no desktop session answered): log in to the desktop and "
    "create or unlock the \"Login\" keyring (Passwords and Keys), or, without a desktop, "
    "restart the keyring with one: `echo -n PASSWORD | gnome-keyring-daemon --replace --unlock "
    "--components=secrets` in the session")


class SecretError(UserError):
    """The keyring could not give or take a secret; the message says what to do."""


class NoKeyring(SecretError):
    """No keyring is reachable at all (no Secret Service on the bus, say)."""

    def __init__(self) -> None:
        super().__init__(NO_KEYRING)


class UnknownSecret(SecretError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"there is no secret {name!r} in the system keyring; store it with "
                         f"`trayjobs secret set {name}`")


# -- the keyring ------------------------------------------------------------------------

def _backend():
    import os

    import keyring
    from keyring.backends import fail

    try:
        ring = keyring.get_keyring()
    except (ImportError, AttributeError, ValueError) as exc:  # a keyring named by the user
        chosen = os.environ.get("PYTHON_KEYRING_BACKEND") or "the keyring configured"
        raise SecretError(f"the keyring {chosen} cannot be loaded ({exc}): install the package "
                          f"that provides it (keyrings.alt for keyrings.alt.file...), or unset "
                          f"PYTHON_KEYRING_BACKEND to use the system keyring") from None
    if isinstance(ring, fail.Keyring):
        # keyring looks for a backend once per process; a keyring started or unlocked since
        # (a login after the app started) is looked for again, so a long-lived job process
        # does not stay without one.
        reset = getattr(keyring.backend.get_all_keyring, "reset", None)
        if reset is not None:
            with suppress(KeyError):  # nothing saved yet (a backend named in the environment)
                reset()
            keyring.core.init_backend()
            ring = keyring.get_keyring()
    if isinstance(ring, fail.Keyring):
        raise NoKeyring()
    return ring


@contextmanager
def _keyring_errors() -> Iterator[None]:
    from keyring.errors import InitError, KeyringError, KeyringLocked, NoKeyringError

    try:
        yield
    except NoKeyringError:
        raise NoKeyring() from None
    except InitError as exc:
        # The Secret Service found at first use has gone since (the keyring daemon stopped
        # while the app kept running): the same as none at all, and the same fix.
        if type(exc.__cause__).__name__ == "SecretServiceNotAvailableException":
            raise NoKeyring() from None
        # No default keyring yet, and the prompt to create one was dismissed: a Secret
        # Service with no desktop session to ask (a server, a session without a login).
        if type(exc.__cause__).__name__ == "PromptDismissedException":
            raise SecretError(NO_COLLECTION) from None
        raise SecretError(f"the system keyring could not be used: {exc}") from None
    except KeyringLocked:
        raise SecretError("the system keyring is locked and was not unlocked: unlock it (log in "
                          "to the desktop, or unlock the \"Login\" keyring in Passwords and "
                          "Keys) and try again") from None
    except (KeyringError, OSError) as exc:  # OSError: the keyring's D-Bus connection broke
        raise SecretError(f"the system keyring could not be used: {exc}") from None
    except Exception as exc:
        # The Secret Service backend lets SecretStorage's own errors through when the
        # service it found at first use has gone since (the keyring daemon stopped).
        if type(exc).__module__.startswith("secretstorage"):
            raise NoKeyring() from None
        raise


def check_name(name: str) -> str:
    """``name`` if it can name a secret, else :class:`UserError` saying why not."""
    if not name or name != name.strip():
        raise UserError(f"{name!r} cannot name a secret: give a name without spaces around it, "
                        f"e.g. nas-token")
    if name.startswith(":") or len(name) > 200 or not name.isprintable():
        raise UserError(f"{name!r} cannot name a secret: use up to 200 printable characters "
                        f"that do not start with ':'")
    return name


def _names(ring) -> list[str]:
    raw = ring.get_password(SERVICE, INDEX_KEY)
    try:
        names = json.loads(raw) if raw else []
    except ValueError:
        names = []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def set_secret(name: str, value: str) -> None:
    """Store ``value`` as the secret ``name`` (replacing one of that name)."""
    check_name(name)
    if not value:
        raise UserError(f"the secret {name!r} was not stored: its value is empty")
    with _keyring_errors():
        ring = _backend()
        ring.set_password(SERVICE, name, value)
        names = _names(ring)
        if name not in names:
            ring.set_password(SERVICE, INDEX_KEY, json.dumps(sorted([*names, name])))


def get_secret(name: str) -> str:
    """The value of the secret ``name``; :class:`UnknownSecret` if there is none."""
    check_name(name)
    with _keyring_errors():
        value = _backend().get_password(SERVICE, name)
    if value is None:
        raise UnknownSecret(name)
    return value


def secret_exists(name: str) -> bool:
    try:
        get_secret(name)
    except UnknownSecret:
        return False
    return True


def delete_secret(name: str) -> None:
    """Remove the secret ``name``; :class:`UnknownSecret` if there is none."""
    check_name(name)
    from keyring.errors import PasswordDeleteError

    with _keyring_errors():
        ring = _backend()
        names = _names(ring)
        if name in names:  # listed or not, a name whose value is gone leaves the list
            ring.set_password(SERVICE, INDEX_KEY, json.dumps([n for n in names if n != name]))
        try:
            ring.delete_password(SERVICE, name)
        except PasswordDeleteError:
            raise UnknownSecret(name) from None


def list_names() -> list[str]:
    """The names of the secrets stored with :func:`set_secret`, never their values."""
    with _keyring_errors():
        return sorted(_names(_backend()))


def secret_refs(value: Any, key: str = "") -> list[tuple[str, str]]:
    """Each ``{ secret = "name" }`` in parsed job params, as (key, name): ("env.TOKEN", "nas")."""
    if isinstance(value, SecretRef):
        return [(key, value.secret)]
    if isinstance(value, KindParams):
        value = {k: getattr(value, k) for k in type(value).model_fields}
    if isinstance(value, dict):
        return [ref for k, v in value.items()
                for ref in secret_refs(v, f"{key}.{k}" if key else str(k))]
    if isinstance(value, (list, tuple)):
        return [ref for i, v in enumerate(value) for ref in secret_refs(v, f"{key}[{i}]")]
    return []


# -- at run time: reading and masking ----------------------------------------------------

_lock = threading.Lock()
_revealed: tuple[str, ...] = ()  # longest first, so a secret inside another is masked whole


def resolve_secret(name: str) -> str:
    """The value of the secret ``name`` for a run, masked from then on in what it sends."""
    value = get_secret(name)
    _remember(value)
    return value


def _remember(value: str) -> None:
    global _revealed
    with _lock:
        # A multi-line value may be printed a line at a time; each line is masked too.
        parts = {value, value.strip(), *(line.strip() for line in value.splitlines())}
        _revealed = tuple(sorted({*_revealed, *(p for p in parts if p)}, key=len, reverse=True))


def forget_revealed() -> None:
    """The run is over: its secrets are no longer masked (the job process is reused)."""
    global _revealed
    with _lock:
        _revealed = ()


def mask(value: Any) -> Any:
    """``value`` with each secret read by :func:`resolve_secret` replaced by ``***``, in text,
    lists and the values (not the keys) of dicts, however deep."""
    secrets = _revealed
    if not secrets:
        return value
    return _mask(value, secrets)


class StreamMask:
    """Masks the secrets read so far in a stream of bytes that comes in pieces (a
    program's output, as read from its pipe), before it is cut into lines, log entries,
    a head and a tail, or a summary: a value printed in two writes, or cut where a long
    line is logged in pieces, would otherwise reach :func:`mask` as two halves it does
    not recognise. What may be the start of a value is held back until the next piece
    (or :meth:`flush`) says whether it is one."""

    def __init__(self) -> None:
        self._held = b""
        self._of: tuple[str, ...] = ()
        self._values: tuple[bytes, ...] = ()

    def feed(self, data: bytes) -> bytes:
        secrets = _revealed
        if not secrets:  # the common case: a run that read no secret
            if self._held:
                data, self._held = self._held + data, b""
            return data
        if secrets is not self._of:
            self._of = secrets
            # Each value is there stripped too: one with spaces or a line break around it
            # is masked as that, and a line's end is never held back as a value's start.
            self._values = tuple(s.encode("utf-8", "surrogatepass") for s in secrets
                                 if s == s.strip())
        if self._held:
            data, self._held = self._held + data, b""
        for value in self._values:  # longest first, as :func:`mask`
            if value in data:
                data = data.replace(value, _MASK_BYTES)
        begun = max((_begun_at_end(data, value) for value in self._values), default=0)
        if begun:
            data, self._held = data[:-begun], data[-begun:]
        return data

    def flush(self) -> bytes:
        """The stream has ended: what was held back is not a value after all."""
        held, self._held = self._held, b""
        return held


_MASK_BYTES = MASK.encode()


def begun_at_end(text: str) -> int:
    """How many characters at the end of ``text`` may be the start of a secret read so far
    (0 when none is): what a stream of text must hold back until it goes on."""
    return max((_begun_at_end(text, s) for s in _revealed), default=0)


def _begun_at_end(data, value) -> int:
    """How many items at the end of ``data`` (bytes or text) are the start of ``value`` (not
    all of it)."""
    at = data.find(value[:1], max(len(data) - len(value) + 1, 0))
    while at >= 0:
        if value.startswith(data[at:]):
            return len(data) - at
        at = data.find(value[:1], at + 1)
    return 0


def _mask(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        for s in secrets:
            if s in value:
                value = value.replace(s, MASK)
        return value
    if isinstance(value, dict):
        return {k: _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask(v, secrets) for v in value]
    return value

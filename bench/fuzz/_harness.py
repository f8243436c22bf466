"""Shared pieces of the atheris harnesses in this directory: the import guard, the fuzz-only
credentials, the crash rule and the known crashes.

The rule every harness checks: an adapter (then the normalizer) given any request either returns
or raises a `gateway.errors.AdapterError`; anything else is a crash and atheris stops with the
input that caused it. Crashes already reported (see docs/reliability.md and the strict-xfail tests
in tests/badinput/) are counted and skipped so the fuzzer keeps looking for new ones; set
``KEFU_FUZZ_KNOWN=crash`` to stop on them too.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "fuzz_token"
AES_KEY = "Gw7kT2pQx9Lm4Rz8Vb1Nc6Hs3Jd5Fa0Ye2Ui7Oo4PqA"
APP_ID = "wxfuzz0000000001"
APP_KEY, APP_SECRET = "7000000000000000001", "fuzz-doudian-secret"
CLIENT_KEY, CLIENT_SECRET = "awfuzz0000000001", "fuzz-douyin-secret"
NOW = 1_767_225_600  # the adapters' fixed clock: 2026-01-01T00:00:00Z

INSTALL_HINT = """\
atheris is not installed in this interpreter ({python}).

  .venv/bin/pip install atheris

Wheels exist for CPython 3.8-3.11 on Linux x86_64; elsewhere pip builds it from source and needs
clang with libFuzzer (see https://github.com/google/atheris). The harnesses are not part of the
test suite; tests/badinput/test_fuzz_adapters.py runs the same properties with hypothesis.
See bench/fuzz/README.md."""

# (exception type, message pattern, name) of crashes reported but not fixed yet. Empty: those
# found so far (non-ASCII digits, CreateTime beyond year 9999, deep XML, unknown XML encodings)
# are fixed.
KNOWN: tuple[tuple[type[BaseException], str, str], ...] = ()
_seen: Counter[str] = Counter()


def load_atheris() -> ModuleType:
    """The atheris module, or exit 2 with instructions when it cannot be imported."""
    try:
        import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        print(INSTALL_HINT.format(python=sys.executable), file=sys.stderr)
        raise SystemExit(2) from None
    module: ModuleType = atheris
    return module


def fixed_clock() -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(NOW, UTC)


def guarded(run: Callable[[], object]) -> None:
    """Run one fuzz input: AdapterError is a fine answer; a known crash is counted (unless
    KEFU_FUZZ_KNOWN=crash); anything else propagates to atheris as a crash."""
    from gateway.errors import AdapterError

    try:
        run()
    except AdapterError:
        return
    except Exception as exc:
        if os.environ.get("KEFU_FUZZ_KNOWN") != "crash":
            for kind, pattern, name in KNOWN:
                if type(exc) is kind and re.search(pattern, str(exc)):
                    _seen[name] += 1
                    return
        raise


@atexit.register
def _report() -> None:
    if _seen:
        summary = ", ".join(f"{name}: {count}" for name, count in _seen.most_common())
        print(f"known crashes skipped (KEFU_FUZZ_KNOWN=crash to stop on them): {summary}")


def main(
    test_one_input: Callable[[bytes], None], atheris: ModuleType, seeds: Sequence[bytes]
) -> None:
    """Hand over to libFuzzer. Flags such as -atheris_runs=N, -dict=FILE, -max_len=N and corpus
    directories are passed through; without a corpus directory the harness's seeds are written
    to a fresh temporary one, so coverage starts from well-formed callbacks."""
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        corpus = tempfile.mkdtemp(prefix=f"kefu-fuzz-{Path(argv[0]).stem}-")
        for number, seed in enumerate(seeds):
            Path(corpus, f"seed-{number:03d}").write_bytes(seed)
        print(f"seed corpus: {corpus} ({len(seeds)} inputs)", file=sys.stderr)
        argv.append(corpus)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


def split(data: bytes, size: int) -> tuple[bytes, bytes]:
    """The first `size` control bytes (zero-padded) and the rest of a fuzz input."""
    return (data[:size] + bytes(size))[:size], data[size:]

"""Every public name is exported, importable, and every public module declares ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil

import trio_locksync


def _public_modules() -> list[str]:
    names = ["trio_locksync"]
    for info in pkgutil.walk_packages(trio_locksync.__path__, prefix="trio_locksync."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def test_all_names_importable_from_top_level() -> None:
    for name in trio_locksync.__all__:
        assert hasattr(trio_locksync, name), name
        exec(f"from trio_locksync import {name}", {})


def _isort_style(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_unique() -> None:
    names = list(trio_locksync.__all__)
    assert names == sorted(set(names), key=_isort_style)


def test_every_public_module_declares_all() -> None:
    modules = _public_modules()
    assert "trio_locksync.core" in modules
    assert "trio_locksync.store" in modules
    assert "trio_locksync.autolock" in modules
    assert "trio_locksync.credentials" in modules
    assert "trio_locksync.eventstream" in modules
    for name in modules:
        module = importlib.import_module(name)
        assert hasattr(module, "__all__"), f"{name} has no __all__"
        for exported in module.__all__:
            assert hasattr(module, exported), f"{name}.__all__ lists missing {exported}"


def test_subpackage_names_reach_the_top_level() -> None:
    for sub in ("core", "store", "autolock", "credentials", "eventstream"):
        module = importlib.import_module(f"trio_locksync.{sub}")
        for name in module.__all__:
            if name in {
                "open_service_nursery",
                "json_decoder",
                "json_encoder",
                "RunBlocking",
                "run_in_worker_thread",
                "worker_thread_runner",
            }:
                continue  # building blocks, reachable through their subpackage
            assert name in trio_locksync.__all__, f"{sub}.{name} is not exported at the top level"


def test_contract_names_present() -> None:
    for name in (
        "open_store",
        "StoreCorruptError",
        "StoreWriteError",
        "Backoff",
        "Jitter",
        "LockSyncError",
        "Pin",
    ):
        assert name in trio_locksync.__all__


def test_every_error_derives_from_locksync_error() -> None:
    for name in trio_locksync.__all__:
        obj = getattr(trio_locksync, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, trio_locksync.LockSyncError), name

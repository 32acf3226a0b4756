"""Compile caches shared across a sweep's runs; each run records whether they were cold or warm."""

from __future__ import annotations

from pathlib import Path

from harness.caches import CACHE_VARS, cache_states, shared_cache_env


def test_runs_share_the_sweeps_cache_folders_unless_the_user_set_their_own(tmp_path: Path) -> None:
    env = shared_cache_env(tmp_path / "cache", {"TRITON_CACHE_DIR": "/mine/triton"})
    assert env["TRITON_CACHE_DIR"] == "/mine/triton"  # the user's setting wins
    assert env["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cache" / "inductor")
    assert env["UNSLOTH_COMPILE_LOCATION"] == str(tmp_path / "cache" / "unsloth")
    assert set(env) == set(CACHE_VARS.values())


def test_a_cache_is_cold_until_something_was_compiled_into_it(tmp_path: Path) -> None:
    env = shared_cache_env(tmp_path / "cache", {})
    assert cache_states(env) == {"inductor": "cold", "triton": "cold", "unsloth": "cold"}
    (tmp_path / "cache" / "triton").mkdir(parents=True)
    assert cache_states(env)["triton"] == "cold"  # an empty folder is still cold
    (tmp_path / "cache" / "triton" / "kernel.cubin").write_bytes(b"x")
    assert cache_states(env) == {"inductor": "cold", "triton": "warm", "unsloth": "cold"}
    assert cache_states({}) == {}  # nothing set: nothing to say

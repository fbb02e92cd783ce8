"""The core's front-end-neutral ``Remedy`` values, worded with this package's
names (the CLI words the same values as its commands and flags).

A remedy arrives as the core serialises it, ``{"kind": "…", …facts}``, with
the core's neutral wording beside it; kinds without a Python-specific wording
keep the neutral one.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

_Render = Callable[[Mapping[str, Any]], Optional[str]]


def _vd(remedy: Mapping[str, Any]) -> Optional[str]:
    """``VirtualDuo.open('DIR')`` for a remedy about a virtual Duo."""
    directory = remedy.get("virtual_device")
    return None if directory is None else f"VirtualDuo.open({str(directory)!r})"


def _virtual_only(text: str) -> _Render:
    def render(remedy: Mapping[str, Any]) -> Optional[str]:
        duo = _vd(remedy)
        return None if duo is None else text.format(duo=duo)

    return render


def _restore(remedy: Mapping[str, Any]) -> Optional[str]:
    backup = str(remedy.get("backup"))
    if remedy.get("backup_kind") != "key":
        return None
    dfu = f"{_vd(remedy)}.enter_dfu()" if _vd(remedy) else "put the board back in DFU mode"
    return (
        f"{dfu}, then restore the key kept in {backup}: "
        "with Device.write_private_key()"
    )


def _retry_later(remedy: Mapping[str, Any]) -> Optional[str]:
    after = remedy.get("after")
    wait = "wait" if after is None else f"wait {after} s"
    return f"{wait} and try again, or pass a lower concurrency= to provision_many()"


_RENDER: Dict[str, _Render] = {
    "enter_dfu_mode": _virtual_only("call {duo}.enter_dfu()"),
    "boot": _virtual_only("call {duo}.boot()"),
    "boot_then_save_key": _virtual_only(
        "call {duo}.boot(), then {duo}.enter_dfu(), then read the key again"
    ),
    "save_key_after_boot": _virtual_only(
        "the firmware makes a new key at boot: call {duo}.enter_dfu(), then read the key"
    ),
    "restore_backup": _restore,
    "reset_or_restore_key": lambda r: (
        "have the firmware make a new key with Device.reset_private_key(), "
        "or restore a backup with Device.write_private_key()"
    ),
    "use_key_operations": lambda r: (
        "write a key with Device.write_private_key() (it keeps a backup, verifies, and "
        "restores on failure) or have the firmware make one with Device.reset_private_key()"
    ),
    "generate_key": lambda r: "make one with generate_key()",
    "allow_overwrite": lambda r: f"pass force=True to overwrite {r.get('path')}",
    "give_access_token": lambda r: (
        "pass token=, set PARTICLE_ACCESS_TOKEN, or log in with `particle login`"
    ),
    "give_valid_access_token": lambda r: (
        "pass a valid token=, set PARTICLE_ACCESS_TOKEN, or log in again with `particle login`"
    ),
    "fix_particle_config": lambda r: "fix or remove particle-cli's config file, or pass token=",
    "check_network": lambda r: "check the network and api_url",
    "check_api_url": lambda r: "check that api_url= points at the Particle API",
    "raise_timeout": lambda r: "check the network or pass a larger timeout=",
    "retry_later": _retry_later,
    "use_https": lambda r: "use an https:// or loopback api_url=",
    "token_not_in_url": lambda r: "pass the access token as token=, not inside api_url=",
    "create_virtual_device": lambda r: f"create one with VirtualDuo.create({str(r.get('dir'))!r})",
    "recreate_virtual_device": lambda r: "remove the directory and VirtualDuo.create() it again",
    "choose_listen_address": lambda r: "pass another addr= to LocalCloud (port 0 picks a free one)",
    "stop_other_cloud": lambda r: "close the other LocalCloud or pass another state_dir=",
    "build_server_block": lambda r: "build a block from a bare key with format_server_key()",
    "choose_device": lambda r: f"pass one selector to open_device() (e.g. {r.get('example')})",
}


def render(remedy: Optional[Mapping[str, Any]], neutral: Optional[str]) -> Optional[str]:
    """The remedy in this package's names, else the core's neutral text."""
    if remedy is None:
        return neutral
    renderer = _RENDER.get(str(remedy.get("kind")))
    worded = renderer(remedy) if renderer is not None else None
    return worded if worded is not None else neutral

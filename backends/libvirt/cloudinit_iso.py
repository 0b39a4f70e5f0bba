"""A cloud-init NoCloud seed as an ISO 9660 image, built in memory with pycdlib.

NoCloud reads a volume labelled `cidata` holding `user-data`, `meta-data` and, optionally,
`network-config` (https://cloudinit.readthedocs.io/en/latest/reference/datasources/nocloud.html). Joliet and Rock
Ridge carry the lower-case names with a dash; the ISO 9660 names are the 8.3 fallback.
"""

from __future__ import annotations

import io

import pycdlib

VOLUME_LABEL = "cidata"


def build(user_data: str, meta_data: str, network_config: str | None = None) -> bytes:
    """The ISO image bytes for one VM's seed; no `network-config` file when it is None."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=VOLUME_LABEL)
    files = [("user-data", user_data), ("meta-data", meta_data)]
    if network_config is not None:
        files.append(("network-config", network_config))
    for name, text in files:
        data = text.encode()
        iso_name = "/" + name.replace("-", "").upper()[:8] + ".;1"
        iso.add_fp(io.BytesIO(data), len(data), iso_name, rr_name=name, joliet_path="/" + name)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()

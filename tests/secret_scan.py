"""Every form in which an API key can leak, and a scan of texts and folders for them."""
from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

SECRET = "sk-Probe-SECRET-0123456789abcdefXYZ"  # mixed case: the lower-cased form differs


def forms(secret: str = SECRET) -> dict[str, str]:
    """Name -> leaked text: verbatim, lower/upper case, percent-encoded, base64 of user:key etc."""
    b64 = {f"base64({p!r})": base64.b64encode(p.encode()).decode()
           for p in (f"user:{secret}", f":{secret}", f"{secret}:", f"ab:{secret}", secret)}
    return {"verbatim": secret, "lower": secret.lower(), "upper": secret.upper(),
            "percent": quote(secret, safe=""), **b64}


def leaks(text: str | bytes, secret: str = SECRET) -> list[str]:
    """Names of the forms found in ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [name for name, form in forms(secret).items() if form in text]


def leaks_in_tree(*roots: Path, secret: str = SECRET) -> dict[str, list[str]]:
    """File -> forms found, for every file under ``roots``."""
    found = {}
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file():
                hit = leaks(path.read_bytes(), secret)
                if hit:
                    found[str(path)] = hit
    return found

"""Fakes for the generate command's tests: a hand-made PDF and a backend whose answers can be
worked out by hand."""
from benchmarks.llm.backends import BackendOptions
from benchmarks.llm.prompts import RULE

PAGES = ["alpha beta gamma delta epsilon zeta", "eta theta iota kappa"]


def _pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF: one Helvetica text line per page, xref offsets computed."""
    n = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode())
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out, offsets = b"%PDF-1.4\n", []
    for k, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)


class FakeBackend:
    """Answers from the excerpt's words, so expected outputs can be worked out by hand."""

    calls = 0
    fail_after: int | None = None  # raise KeyboardInterrupt on this call number (a kill)

    def __init__(self, options: BackendOptions):
        self.identity = {"backend": "fake", "model": options.model or "fake-1"}

    def chat(self, messages, sampling, seed, stop=None):
        FakeBackend.calls += 1
        if FakeBackend.fail_after is not None and FakeBackend.calls > FakeBackend.fail_after:
            raise KeyboardInterrupt
        words = messages[-1]["content"].split(RULE)[1].split()
        if "Question:" in messages[-1]["content"]:
            return f"It is {words[-1]}.\n\nThis second paragraph is dropped."
        return f"1. What comes after {words[0]}?\n\n2) Which word ends it, {words[-1]}?\n3. Extra question"

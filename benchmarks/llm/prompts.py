"""Prompt templates for question and answer generation, and the hashes that identify them.

The question prompt follows the structure of LlamaIndex's ``generate_qa_embedding_pairs``: the
chunk between dashed rules, use the excerpt and no prior knowledge, N varied questions, questions
only. The wording is ours. A template's sha256 is part of every cache key and of the dataset card,
so editing one word regenerates instead of silently mixing the outputs of two prompts.

Custom templates (``--question-prompt FILE``) may use ``{context}``/``{n}`` or LlamaIndex's own
names ``{context_str}``/``{num_questions_per_chunk}``, so LlamaIndex's default template can be
passed verbatim. Fields are substituted by name, not with ``str.format``: a template that shows
a JSON example with braces must not break.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.artifacts import canonical_sha256
from benchmarks.errors import HarnessError

RULE = "-" * 21

SYSTEM = "You write exam questions and answers about documents, using only the text you are given."

QUESTIONS = f"""Read this excerpt from a document.

{RULE}
{{context}}
{RULE}

Write {{n}} questions for a quiz on this excerpt. Each question must be answerable from the \
excerpt alone, without outside knowledge, and the questions should ask about different parts \
of it. Write only the questions, one per line, numbered 1., 2. and so on. Do not answer them."""

ANSWERS = f"""Read this excerpt from a document.

{RULE}
{{context}}
{RULE}

Question: {{question}}

Answer the question in one or two sentences, using only the excerpt. If the excerpt does not \
answer it, say that it does not."""

ALIASES = {"{context_str}": "{context}", "{num_questions_per_chunk}": "{n}"}


@dataclass(frozen=True)
class Prompt:
    kind: str  # "questions" | "answers"
    template: str
    system: str | None = SYSTEM

    @property
    def sha256(self) -> str:
        return canonical_sha256({"kind": self.kind, "system": self.system, "template": self.template},
                                ascii=True, spaced=True)  # the form every recorded prompt hash has

    def messages(self, **fields: str | int) -> list[dict[str, str]]:
        text = self.template
        for alias, name in ALIASES.items():
            text = text.replace(alias, name)
        for name, value in fields.items():
            text = text.replace("{" + name + "}", str(value))
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + [{"role": "user", "content": text}]


REQUIRED = {"questions": ("{context}", "{n}"), "answers": ("{context}", "{question}")}


def load_prompt(kind: str, file: Path | None) -> Prompt:
    """The built-in prompt, or the template in ``file`` (sent as the only message, no system)."""
    if file is None:
        return Prompt(kind, QUESTIONS if kind == "questions" else ANSWERS)
    try:
        template = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read the {kind} prompt template {file}: {exc}") from None
    normalised = template
    for alias, name in ALIASES.items():
        normalised = normalised.replace(alias, name)
    missing = [f for f in REQUIRED[kind] if f not in normalised]
    if missing:
        raise HarnessError(f"{kind} prompt template {file} lacks the field(s) {', '.join(missing)}; "
                           f"it needs {' and '.join(REQUIRED[kind])} where the text should go")
    # A custom template is the whole instruction, as LlamaIndex sends it: no system message.
    return Prompt(kind, template, system=None)

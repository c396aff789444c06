"""The Magicoder prompt: one format for training and inference, so the two never drift apart.

The released models were trained and are evaluated with this exact text; `prompt` ends right where the
model's answer starts (after `@@ Response\n`), which is also where the training loss starts.
"""

MAGICODER_PROMPT = """You are an exceptionally intelligent coding assistant that consistently delivers accurate and reliable responses to user instructions.

@@ Instruction
{instruction}

@@ Response
"""


def prompt(instruction: str, template: str = MAGICODER_PROMPT) -> str:
    """The text before the response: system line, instruction, and the `@@ Response` header."""
    return template.format(instruction=instruction)

"""The Magicoder prompt: one format for training and inference, so the two never drift apart; and how an
evaluation prompt becomes token ids, as the original evaluation did it for each tokenizer family.

The released models were trained and are evaluated with this exact text; `prompt` ends right where the
model's answer starts (after `@@ Response\n`), which is also where the training loss starts.
"""

MAGICODER_PROMPT = """You are an exceptionally intelligent coding assistant that consistently delivers accurate and reliable responses to user instructions.

@@ Instruction
{instruction}

@@ Response
"""

# Who tokenised each benchmark in the original evaluation: Magicoder's own scripts (experiments/text2code.py
# for HumanEval(+)/MBPP(+), experiments/ds_1000.py, both through llm_wrapper's `complete`) or
# bigcode-evaluation-harness (MultiPL-E).
HARNESS = {"humaneval": "magicoder", "mbpp": "magicoder", "ds1000": "magicoder", "multipl-e": "bigcode"}


def prompt(instruction: str, template: str = MAGICODER_PROMPT) -> str:
    """The text before the response: system line, instruction, and the `@@ Response` header."""
    return template.format(instruction=instruction)


def eval_input_ids(tokenizer, texts: list[str], kind: str) -> list[list[int]]:
    """Token ids of evaluation prompts, as the original evaluation made them for this benchmark kind.

    Magicoder's scripts encode the text without the tokenizer's special tokens and prepend the BOS id
    whenever the tokenizer names one: DeepSeek-Coder gets `<｜begin▁of▁sentence｜>`, CodeLlama `<s>`, and
    StarCoder, whose bos_token is `<|endoftext|>`, gets that too; a tokenizer without a BOS gets none.
    bigcode-evaluation-harness calls the tokenizer as it is: DeepSeek-Coder and CodeLlama add their BOS,
    StarCoder adds nothing."""
    if HARNESS[kind] == "bigcode":
        return [tokenizer(t)["input_ids"] for t in texts]
    bos = [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
    return [bos + tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]

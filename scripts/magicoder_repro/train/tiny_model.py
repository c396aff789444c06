"""A tiny causal LM built from scratch, so the whole pipeline runs offline and fast on a CPU.

No weights can be downloaded here, and the pipeline's code paths (tokenizer with BOS/EOS/pad and a chat
template, `from_pretrained` loading, generation, training) must still be exercised for real: random weights
from a small Llama config and a byte-level BPE tokenizer trained on local code give exactly that.
"""
import argparse
import json
from pathlib import Path
from magicoder_repro.core.errors import one_line_errors

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ bos_token if loop.first else '' }}"
    "{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def train_tokenizer(texts, vocab_size: int):
    """Byte-level BPE trained on `texts`, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<s>", "</s>", "<pad>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # Prepend BOS like the Llama / DeepSeek-Coder tokenizers do, so training sees the same token layout.
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", chat_template=CHAT_TEMPLATE
    )


def build(out_dir, texts, vocab_size=2048, hidden_size=64, layers=2, heads=4, max_positions=2048, seed=0):
    """Write a tokenizer and a randomly initialised LlamaForCausalLM to `out_dir`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(texts, vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def corpus_texts(paths, field="content"):
    """Document texts from JSONL files (starcoderdata schema) or plain source files."""
    texts = []
    for path in map(Path, paths):
        if path.suffix == ".jsonl":
            texts += [json.loads(line)[field] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            texts.append(path.read_text(encoding="utf-8"))
    return texts


@one_line_errors()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", nargs="+", required=True, help="JSONL or source files to train the tokenizer on")
    p.add_argument("--out", required=True)
    p.add_argument("--params", default="{}", help="JSON: vocab_size, hidden_size, layers, heads, max_positions, seed")
    args = p.parse_args(argv)
    build(args.out, corpus_texts(args.corpus), **json.loads(args.params))


if __name__ == "__main__":
    main()

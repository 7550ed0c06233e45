"""Fuzz the answer validator: random and mutated answers never crash it, every agent ends
with a valid route, and the fallback count equals the number of unrepairable answers."""
import json
import random

import pytest

from reled_sumo.experts import AgentTrip, RoutingExpert, is_valid_trip_route
from reled_sumo.experts.instructions import validate_answer
from reled_sumo.experts.llm import LLMExpertConfig, OllamaExpert
from reled_sumo.experts.ollama_client import ServerInfo
from reled_sumo.experts.prompt import PromptConfig
from reled_sumo.testing.routes import answer_from_routes

N_ANSWERS = 1000


class ScriptedClient:
    """In-process stand-in for OllamaClient (the HTTP path is covered elsewhere)."""

    model = "fuzz"

    def __init__(self):
        self.text = ""

    def check(self):
        return ServerInfo("inproc", "0", self.model, (self.model,))

    def chat_text(self, messages, schema):
        return self.text


def _junk(rng):
    return rng.choice([None, 3, -1, 2.5, True, [], {}, "", " ", "A9", "Z" * 300, "\x00", "MoveTo",
                       "a0", "A1", "E4", "C2", "{", "]", "ü", "1e309"])


def _mutate_items(items, rng, junctions, agents):
    items = [list(x) for x in items]
    for _ in range(rng.randint(0, 6)):
        op = rng.randrange(9)
        i = rng.randrange(len(items)) if items else 0
        if not items or op == 0:
            items.insert(i, ["MoveTo", rng.choice(junctions), rng.choice(agents)])
        elif op == 1:
            del items[i]
        elif op == 2:
            j = rng.randrange(len(items))
            items[i], items[j] = items[j], items[i]
        elif op == 7:
            items[i] = items[i][: rng.randrange(4)]
        elif op == 8:
            items.extend(items[: rng.randrange(3)])
        elif len(items[i]) == 3:  # ops 3-6 edit one field of a well-shaped item
            field, value = {
                3: (1, rng.choice(junctions + ["X1", "", "A"])),
                4: (2, rng.choice(agents + ["ghost", "A0"])),
                5: (0, rng.choice(["Avoid", "moveto", "Stop", "", "MOVE"])),
                6: (rng.randrange(3), _junk(rng)),
            }[op]
            items[i][field] = value
    return items


def _mutate_text(text, rng):
    op = rng.randrange(8)
    if op == 0:
        return text[: rng.randrange(len(text) + 1)]
    if op == 1:
        pos = rng.randrange(len(text) + 1)
        return text[:pos] + rng.choice(["{", "}", "[", "]", '"', ",", ":", "\n", "null"]) + text[pos:]
    if op == 2:
        return f"Here you go:\n```json\n{text}\n```\nDone."
    if op == 3:
        return "".join(rng.choice("{}[]\",:aMoveTo0123 ") for _ in range(rng.randrange(80)))
    if op == 4:
        return json.dumps(rng.choice([[], {}, None, 1, "x", {"instructions": None}, {"Instructions": []},
                                      [[1, 2, 3]], {"instructions": [["MoveTo", ["A1"], "a0"]]}]))
    return text


def _answers(graph, trips, good, rng):
    junctions = sorted(graph.junctions)
    agents = [t.agent_id for t in trips]
    for _ in range(N_ANSWERS):
        items = json.loads(answer_from_routes(graph, good))["instructions"]
        items = _mutate_items(items, rng, junctions, agents)
        wrapper = {"instructions": items} if rng.random() < 0.8 else items
        yield _mutate_text(json.dumps(wrapper), rng)


@pytest.fixture
def fuzz_trips(grid_graph):
    """Three agents leaving from the same edge: one interacting subset, one request."""
    g = grid_graph
    return [AgentTrip(f"a{i}", g.index["A0A1"], g.index[d], float(i))
            for i, d in enumerate(["E3E4", "C4C3", "D0E0"])]


def test_fuzz_answers(grid_graph, fuzz_trips):
    g, trips = grid_graph, fuzz_trips
    good = {a: r.edges for a, r in RoutingExpert().plan(g, trips, None, {}).items()}
    client = ScriptedClient()
    cfg = LLMExpertConfig(cache=False, max_subset=len(trips), max_workers=1, prompt=PromptConfig(k_paths=1))
    expert = OllamaExpert(cfg, client=client)
    rng = random.Random(11)
    expected_fallbacks = expected_invalid = 0
    for text in _answers(g, trips, good, rng):
        report = validate_answer(text, g, trips, g.freeflow_time)
        expected_fallbacks += len(report.unrepairable)
        expected_invalid += report.malformed
        client.text = text
        routes = expert.plan(g, trips, g.freeflow_time, {})
        assert set(routes) == {t.agent_id for t in trips}
        for t in trips:
            r = routes[t.agent_id]
            assert is_valid_trip_route(g, r.edges, t), (text, r)
            assert (r.source == "fallback") == (report.routes[t.agent_id] is None)
    s = expert.stats
    assert s.llm_calls == N_ANSWERS
    assert s.fallbacks == expected_fallbacks and s.invalid_answers == expected_invalid
    # the mix exercises every outcome
    assert 0 < s.fallbacks < N_ANSWERS * len(trips) and s.repairs > 0 and s.invalid_answers > 0

import json

import pytest

from reled_sumo.experts import AgentTrip, is_valid_trip_route
from reled_sumo.experts.instructions import (
    InvalidAnswerError,
    build_route,
    extract_json,
    parse_instructions,
    validate_answer,
)


def _ids(g, route):
    return [g.edge_ids[e] for e in route]


@pytest.fixture
def trips(grid_graph):
    g = grid_graph
    return [AgentTrip("a1", g.index["A0A1"], g.index["A3B3"], 0.0),
            AgentTrip("a2", g.index["C0C1"], g.index["C2C3"], 0.0)]


def _answer(*triples):
    return json.dumps({"instructions": [list(t) for t in triples]})


GOOD = _answer(("MoveTo", "A2", "a1"), ("MoveTo", "A3", "a1"), ("MoveTo", "B3", "a1"),
               ("MoveTo", "C2", "a2"), ("MoveTo", "C3", "a2"))


def test_good_answer_is_not_repaired(grid_graph, trips):
    rep = validate_answer(GOOD, grid_graph, trips, grid_graph.freeflow_time)
    assert not rep.malformed and not rep.unrepairable
    a1 = rep.routes["a1"]
    assert _ids(grid_graph, a1.edges) == ["A0A1", "A1A2", "A2A3", "A3B3"] and not a1.repaired
    assert _ids(grid_graph, rep.routes["a2"].edges) == ["C0C1", "C1C2", "C2C3"]


@pytest.mark.parametrize("wrap", [
    "Sure! Here is the plan:\n{}\nHope this helps.",
    "```json\n{}\n```",
    "[note] {}",
    '{"thoughts": "x"} {}',
])
def test_text_around_json(grid_graph, trips, wrap):
    rep = validate_answer(wrap.replace("{}", GOOD), grid_graph, trips, grid_graph.freeflow_time)
    assert not rep.malformed and not rep.unrepairable and not rep.routes["a1"].repaired


def test_bare_list_and_dict_items_and_numbers():
    assert parse_instructions([["moveto", 12, "a"]])[0][0].parameter == "12"
    ins, bad = parse_instructions({"Instructions": [{"command": "MoveTo", "parameter": "J", "agent": "a"},
                                                    ["Fly", "J", "a"], ["MoveTo", None, "a"], "junk", ["MoveTo"]]})
    assert len(ins) == 1 and bad == 4


@pytest.mark.parametrize("text", ["", "   ", "no json here", "{\"foo\": 1}", "{\"instructions\": 5}",
                                  "[" * 100_000, "{\"instructions\": [" + "[" * 50_000])
def test_malformed_answers_fall_back_for_everyone(grid_graph, trips, text):
    rep = validate_answer(text, grid_graph, trips, grid_graph.freeflow_time)
    assert rep.malformed and set(rep.unrepairable) == {"a1", "a2"}


def test_extract_json_errors():
    with pytest.raises(InvalidAnswerError):
        extract_json(None)
    assert extract_json('x [1, 2] y') == [1, 2]


def test_unknown_agents_and_junctions(grid_graph, trips):
    text = _answer(("MoveTo", "A2", "a1"), ("MoveTo", "ZZ9", "a1"), ("MoveTo", "B3", "a1"),
                   ("MoveTo", "C3", "ghost"), ("MoveTo", "Nowhere", "a2"))
    rep = validate_answer(text, grid_graph, trips, grid_graph.freeflow_time)
    assert rep.unknown_agents == ("ghost",)
    a1 = rep.routes["a1"]
    assert a1.repaired and any("unknown junction" in n for n in a1.notes)
    assert is_valid_trip_route(grid_graph, a1.edges, trips[0])
    assert rep.routes["a2"] is None  # its only waypoint was unknown


def test_disconnected_moves_are_joined(grid_graph, trips):
    rep = validate_answer(_answer(("MoveTo", "D0", "a1"), ("MoveTo", "B3", "a1")),
                          grid_graph, trips, grid_graph.freeflow_time)
    a1 = rep.routes["a1"]
    assert a1.repaired and is_valid_trip_route(grid_graph, a1.edges, trips[0])
    assert "D0" in {grid_graph.to_junction[e] for e in a1.edges}


def test_loops_removed(grid_graph, trips):
    text = _answer(*[("MoveTo", j, "a1") for j in ("A2", "B2", "B1", "A1", "A2", "A3", "B3")])
    a1 = validate_answer(text, grid_graph, trips, grid_graph.freeflow_time).routes["a1"]
    assert "loop removed" in a1.notes
    assert len(set(a1.edges)) == len(a1.edges) and is_valid_trip_route(grid_graph, a1.edges, trips[0])


def test_missing_destination_completed(grid_graph, trips):
    a1 = validate_answer(_answer(("MoveTo", "A2", "a1")), grid_graph, trips,
                         grid_graph.freeflow_time).routes["a1"]
    assert "missing destination completed" in a1.notes and is_valid_trip_route(grid_graph, a1.edges, trips[0])


def test_stopping_at_the_destination_start_is_fine(grid_graph, trips):
    text = _answer(("MoveTo", "A2", "a1"), ("MoveTo", "A3", "a1"))  # A3 is where A3B3 starts
    a1 = validate_answer(text, grid_graph, trips, grid_graph.freeflow_time).routes["a1"]
    assert not a1.repaired and _ids(grid_graph, a1.edges)[-1] == "A3B3"


def test_moves_past_destination_cut(grid_graph, trips):
    text = _answer(*[("MoveTo", j, "a1") for j in ("A2", "A3", "B3", "C3", "D3")])
    a1 = validate_answer(text, grid_graph, trips, grid_graph.freeflow_time).routes["a1"]
    assert _ids(grid_graph, a1.edges)[-1] == "A3B3" and a1.repaired


def test_avoid_steers_repairs(grid_graph):
    g = grid_graph
    trip = AgentTrip("a", g.index["A0A1"], g.index["A3B3"], 0.0)
    plain = build_route(g, trip, ["A2"], g.freeflow_time)
    avoided = build_route(g, trip, ["A2"], g.freeflow_time, avoid=[g.index["A2A3"]])
    assert g.index["A2A3"] in plain.edges and g.index["A2A3"] not in avoided.edges
    assert is_valid_trip_route(g, avoided.edges, trip)

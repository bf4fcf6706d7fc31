"""The rules see through naming: a corpus of destructive actions in disguise and of benign ones
(tests/data/review_corpus.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.review import ReviewPolicy, rule_review
from services.risk_analysis import RiskRules, assess, watched_terms, words_of

CORPUS = json.loads((Path(__file__).parents[1] / "data" / "review_corpus.json").read_text())
DEFAULT = ReviewPolicy(model="", timeout_s=5, confidence_threshold=0.8)
# An admin who allows every name: only the risk rules stand between an agent and approval.
ALLOW_ALL = ReviewPolicy(model="", timeout_s=5, confidence_threshold=0.8, safe_actions=("*",))


def test_the_corpus_is_big_enough():
    assert len(CORPUS["destructive"]) >= 50 and len(CORPUS["benign"]) >= 50


@pytest.mark.parametrize(("action", "parameters", "reason"), CORPUS["destructive"])
def test_no_destructive_action_is_approved_whatever_its_name(action, parameters, reason):
    assert rule_review(action, parameters, DEFAULT, reason).decision != "approve"
    found = rule_review(action, parameters, ALLOW_ALL, reason)
    assert found.decision != "approve", found.reasons  # the rules fire, not just the names
    assert found.risk != "safe"


def test_benign_actions_are_mostly_approved(capsys):
    approved = [
        action
        for action, parameters, reason in CORPUS["benign"]
        if rule_review(action, parameters, DEFAULT, reason).decision == "approve"
    ]
    rate = len(approved) / len(CORPUS["benign"])
    with capsys.disabled():
        print(f"\nbenign approval rate (default allow-list): {rate:.0%}")
    assert rate >= 0.6


def test_names_are_split_every_way():
    assert words_of("deleteCustomerAccount") == ["delete", "customer", "account"]
    assert words_of("db.exec/rm-rf_now") == ["db", "exec", "rm", "rf", "now"]
    assert words_of("HTTPServerShutdown") == ["http", "server", "shutdown"]


def test_amounts_urls_and_extra_words_follow_the_settings():
    rules = RiskRules(amount_limit=100, internal_hosts=frozenset({"intranet.local"}))
    assert assess(action="get_price", parameters={"amount": 99}, rules=rules).risk == "safe"
    assert assess(action="get_price", parameters={"amount": "1,500"}, rules=rules).risk == "high"
    inside = {"url": "https://intranet.local/x"}
    assert assess(action="fetch_page", parameters=inside, rules=rules).risk == "safe"
    flagged = RiskRules(extra_high_words=frozenset({"salary"}))
    assert assess(action="list_salaries", parameters={}, rules=flagged).risk == "high"


def test_the_monitor_sees_words_in_any_form_and_commands():
    words = frozenset({"delete", "password"})
    assert watched_terms(["deleting all passwords"], words) == ["delete", "password"]
    assert watched_terms(["PasswordsDeleted"], words) == ["delete", "password"]
    assert watched_terms(["ran: DROP TABLE users"], words) != []
    assert watched_terms(["fetched 10 rows", "wrote the summary"], words) == []

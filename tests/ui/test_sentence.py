"""What the services say reads as a sentence on screen, without mangling names and levels."""

from supervision_app.states.data import sentence


def test_a_message_is_capitalised_and_ended_and_keeps_its_words():
    assert sentence("you must be online to watch the run") == (
        "You must be online to watch the run."
    )
    assert sentence("a SUPERVISED agent needs a supervisor") == (
        "A SUPERVISED agent needs a supervisor."
    )
    assert sentence("agent 'Billing-Bot' already exists.") == "Agent 'Billing-Bot' already exists."
    assert sentence("") == ""


def test_the_demo_sign_in_hint_names_every_demo_account():
    from services.demo import DEMO_PASSWORD, DEMO_USERS, sign_in_hint

    hint = sign_in_hint()
    assert DEMO_PASSWORD in hint
    assert all(username in hint for username, _name, _role in DEMO_USERS)

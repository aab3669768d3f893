"""The passwords a charger may connect with while its password rotates (`ocpp.passwords`)."""

from __future__ import annotations

from controller.ocpp.passwords import Admission, PasswordBook


def test_the_old_password_is_accepted_until_the_charger_connects_with_the_new_one() -> None:
    book = PasswordBook()
    assert book.admit("CP-1", "old", "old") is Admission.DECLARED
    # the declared password changed to "new"; the charger still has only "old"
    assert book.admit("CP-1", "old", "new") is Admission.PREVIOUS
    assert not book.standing("CP-1", "new").in_use
    book.accepted("CP-1", "new")
    assert book.standing("CP-1", "new").accepted
    assert book.admit("cp-1", "new", "new") is Admission.DECLARED  # identities ignore case
    assert book.admit("CP-1", "old", "new") is None
    assert book.standing("CP-1", "new").in_use


def test_a_wrong_password_and_another_charger_s_old_one_are_refused() -> None:
    book = PasswordBook()
    book.admit("CP-1", "old", "old")
    assert book.admit("CP-1", "guess", "new") is None
    assert book.admit("CP-2", "old", "new") is None


def test_a_password_it_accepted_lets_it_in_after_the_declared_one_changed_again() -> None:
    book = PasswordBook()
    book.admit("CP-1", "a", "a")
    book.accepted("CP-1", "b")  # then the fleet declares "c" before it reconnects
    assert book.admit("CP-1", "b", "c") is Admission.SET
    assert book.admit("CP-1", "a", "c") is None, "it moved on from a"
    assert book.admit("CP-1", "b", "c") is Admission.PREVIOUS


def test_coming_back_with_the_old_one_after_accepting_the_new_one_is_a_refusal() -> None:
    book = PasswordBook()
    book.admit("CP-1", "a", "a")
    book.accepted("CP-1", "b")
    assert book.admit("CP-1", "a", "b") is Admission.PREVIOUS  # never locked out
    standing = book.standing("CP-1", "b")
    assert standing.refused and standing.reverted and not standing.accepted


def test_a_charger_taken_out_of_the_fleet_is_forgotten_and_news_reaches_listeners() -> None:
    book = PasswordBook()
    book.admit("CP-1", "a", "a")
    book.forget("CP-1")
    assert book.admit("CP-1", "a", "b") is None
    heard: list[list[str]] = []
    book.subscribe(lambda identities: heard.append(list(identities)))
    book.announce([])
    book.announce(["CP-1"])
    assert heard == [["CP-1"]]

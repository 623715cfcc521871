"""What happens to a batch's log rows (domain.settlement): never deleted before Amazon's final word."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from amazon_sync.domain.model import LogKey
from amazon_sync.domain.settlement import BatchPicture, SentMessage

FINAL = {"accepted", "rejected"}
verdicts = st.sampled_from(["accepted", "rejected", "retry", "requeue", "pending"])
messages = st.builds(SentMessage, shop=st.integers(1, 2), id_product=st.integers(1, 4),
                     id_product_attribute=st.integers(0, 3), verdict=verdicts)
keys = st.builds(LogKey, id_product=st.integers(0, 4), id_product_attribute=st.integers(0, 3),
                 id_shop=st.integers(0, 2))


@st.composite
def pictures(draw: st.DrawFn) -> BatchPicture:
    picture = BatchPicture(interrupted=draw(st.booleans()), unsent_products=draw(st.sets(st.integers(1, 4))),
                           every_product_unsent=draw(st.booleans()))
    for message in draw(st.lists(messages, max_size=12)):
        picture.add(message)
    return picture


def reaches(key: LogKey, message: SentMessage) -> bool:
    """Written independently of BatchPicture.covering: which messages were built from a row."""
    return ((key.id_product in (0, message.id_product))
            and (key.id_product_attribute in (0, message.id_product_attribute))
            and (key.id_shop in (0, message.shop)))


@given(pictures(), keys)
def test_a_row_is_deleted_only_when_every_message_built_from_it_has_amazons_final_word(picture, key):
    decision = picture.decide(key)
    built = [m for m in picture.every if reaches(key, m)]
    if decision == "delete":
        assert all(m.verdict in FINAL for m in built)
        assert not picture.interrupted and not picture.every_product_unsent
        assert key.id_product not in picture.unsent_products
        assert not (key.id_product == 0 and picture.unsent_products)
    if any(m.verdict == "pending" for m in built):
        assert decision == "keep"
    elif any(m.verdict == "retry" for m in built):
        assert decision == "retry"
    elif any(m.verdict == "requeue" for m in built):
        assert decision == "requeue"


@given(pictures(), keys)
def test_a_row_with_every_message_final_in_a_complete_batch_is_deleted(picture, key):
    built = [m for m in picture.every if reaches(key, m)]
    complete = not (picture.interrupted or picture.every_product_unsent or key.id_product in picture.unsent_products
                    or (key.id_product == 0 and picture.unsent_products))
    if complete and all(m.verdict in FINAL for m in built):
        assert picture.decide(key) == "delete"  # nothing is kept for ever


def test_an_acceptance_on_one_shop_says_nothing_about_the_other():
    picture = BatchPicture(interrupted=False, unsent_products=set())
    picture.add(SentMessage(1, 5, 0, "accepted"))
    picture.add(SentMessage(2, 5, 0, "pending"))
    assert picture.decide(LogKey(5, 0, 1)) == "delete"
    assert picture.decide(LogKey(5, 0, 2)) == "keep"
    assert picture.decide(LogKey(5, 0, 0)) == "keep"  # every shop: waits for the slowest
    assert picture.decide(LogKey(0, 0, 0)) == "keep"  # every product


def test_an_interrupted_batch_sends_accepted_rows_round_once_more():
    picture = BatchPicture(interrupted=True, unsent_products=set())
    picture.add(SentMessage(1, 5, 0, "accepted"))
    assert picture.decide(LogKey(5, 0, 1)) == "requeue"

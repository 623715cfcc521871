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
# a row on every product (product 0) names no combination: the log has no such key as (0, 3, 1)
keys = st.builds(LogKey, id_product=st.integers(0, 4), id_product_attribute=st.integers(0, 3),
                 id_shop=st.integers(0, 2)).filter(lambda key: key.id_product or not key.id_product_attribute)


@st.composite
def pictures(draw: st.DrawFn) -> tuple[BatchPicture, list[SentMessage]]:
    """A picture and every message in it: each added alone, or with the other messages of its feed when
    they share one verdict (only their offers are kept then)."""
    picture = BatchPicture(interrupted=draw(st.booleans()), unsent_products=draw(st.sets(st.integers(1, 4))),
                           every_product_unsent=draw(st.booleans()))
    sent: list[SentMessage] = []
    for feed in draw(st.lists(st.lists(messages, max_size=6), max_size=4)):
        if feed and draw(st.booleans()):
            shop, verdict = feed[0].shop, feed[0].verdict
            shared = [m._replace(shop=shop, verdict=verdict) for m in feed]
            sent.extend(shared)
            picture.add_offers(shop, ((m.id_product, m.id_product_attribute) for m in shared), verdict)
        else:
            sent.extend(feed)
            for message in feed:
                picture.add(message)
    return picture, sent


def reaches(key: LogKey, message: SentMessage) -> bool:
    """Written independently of BatchPicture.covering: which messages were built from a row."""
    return ((key.id_product in (0, message.id_product))
            and (key.id_product_attribute in (0, message.id_product_attribute))
            and (key.id_shop in (0, message.shop)))


@given(pictures(), keys)
def test_a_row_is_deleted_only_when_every_message_built_from_it_has_amazons_final_word(drawn, key):
    picture, sent = drawn
    decision = picture.decide(key)
    built = [m for m in sent if reaches(key, m)]
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
def test_a_row_with_every_message_final_in_a_complete_batch_is_deleted(drawn, key):
    picture, sent = drawn
    built = [m for m in sent if reaches(key, m)]
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


def test_offers_of_a_feed_with_one_verdict_cover_their_product_and_every_product():
    picture = BatchPicture(interrupted=False, unsent_products=set())
    picture.add_offers(1, {(5, 7), (6, 0)}, "pending")
    picture.add(SentMessage(1, 8, 0, "accepted"))
    picture.add_offers(2, {(5, 9)}, "retry")
    assert [picture.decide(LogKey(*key)) for key in [(5, 7, 1), (5, 0, 1), (5, 0, 0), (6, 0, 0), (0, 0, 2),
                                                     (0, 0, 0), (8, 0, 1), (5, 8, 1), (5, 9, 0), (5, 9, 1)]] == [
        "keep", "keep", "keep", "keep", "retry", "keep", "delete", "delete", "retry", "delete"]


def test_an_interrupted_batch_sends_accepted_rows_round_once_more():
    picture = BatchPicture(interrupted=True, unsent_products=set())
    picture.add(SentMessage(1, 5, 0, "accepted"))
    assert picture.decide(LogKey(5, 0, 1)) == "requeue"

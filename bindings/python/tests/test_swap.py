"""Atomic swaps from Python, against a real `fogd local-network` (conftest.py).

Alice (a funded demo wallet) offers MOB for token 1; Bob (another funded demo wallet: each
holds MOB and 3 TxOuts of 1,000,000 units of token 1) checks the offer and fills it. The
taker pays the fee, in MOB at the node's minimum, out of the MOB it takes; the maker gets
exactly what it asked and gives exactly what it offered (the rest of its TxOut comes back to
it). Both balances are checked exactly, for both tokens. Filling the offer again is a
double spend; an offer past its last block is expired; bad bytes and bad terms are refused
before anything is sent. Last, Bob fills half of a partial offer paying a fee of his own.
"""

import asyncio

import pytest

import fog

MOB = 1_000_000_000_000
TOKEN_1 = 1
# MobileCoin's minimum MOB fee: the local network's node asks it, and a fill pays it.
MINIMUM_FEE = 400_000_000
# How long a swap may take to show up in the maker's balance.
ARRIVAL_TIMEOUT_S = 120


def value(balance, token_id):
    return int(fog.balance_of(balance, token_id))


async def balance_covering(wallet, block_index):
    """Checks until the balance covers `block_index`, then returns it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ARRIVAL_TIMEOUT_S
    while True:
        balance = await wallet.check_balance(None)
        if balance.block_count > block_index:
            return balance
        if loop.time() > deadline:
            raise AssertionError(
                f"the balance did not reach block {block_index} in {ARRIVAL_TIMEOUT_S} s "
                f"(block count {balance.block_count})"
            )
        await asyncio.sleep(0.5)


def test_offer_check_fill_and_double_spend(network):
    asyncio.run(_swap(network))


async def _swap(net):
    alice = fog.Wallet.open_file(net.wallet_path("alice"), None)
    bob = fog.Wallet.open_file(net.wallet_path("bob"), None)
    a = await alice.check_balance(None)
    b = await bob.check_balance(None)
    a_mob, a_t1 = value(a, 0), value(a, TOKEN_1)
    b_mob, b_t1 = value(b, 0), value(b, TOKEN_1)
    assert b_t1 >= 1_000_000, f"bob holds {b_t1} of token 1: fogd funds each demo wallet with it"
    print(f"before: alice {a_mob} MOB {a_t1} T1, bob {b_mob} MOB {b_t1} T1")

    # Bad terms are refused before anything is asked.
    for args in [
        (0, 0, 250_000, TOKEN_1, None, 100),
        (5 * MOB, 0, 250_000, 0, None, 100),
        (5 * MOB, 0, 250_000, TOKEN_1, None, 0),
        (5 * MOB, 0, 250_000, TOKEN_1, 6 * MOB, 100),
    ]:
        with pytest.raises(fog.FogError.InvalidRequest):
            await alice.make_offer(*args)

    # Alice offers 5 MOB for 250,000 of token 1, all or nothing.
    give, want = 5 * MOB, 250_000
    offer = await alice.make_offer(give, 0, want, TOKEN_1, None, 100)
    assert isinstance(offer, bytes) and len(offer) > 0
    summary = fog.check_offer(offer)
    assert summary.give == fog.TokenAmount(value=give, token_id=0)
    assert summary.want == [fog.TokenAmount(value=want, token_id=TOKEN_1)]
    assert not summary.partial and summary.min_fill == 0
    assert summary.max_tombstone_block > a.block_count
    assert len(bytes.fromhex(summary.key_image)) == 32

    # And a partial offer valid for one block only: expired once any block is added.
    short = await alice.make_offer(2 * MOB, 0, 40_000, TOKEN_1, MOB, 1)
    short_summary = fog.check_offer(short)
    assert short_summary.partial and short_summary.min_fill == MOB
    assert short_summary.give == fog.TokenAmount(value=2 * MOB, token_id=0)
    assert short_summary.want == [fog.TokenAmount(value=40_000, token_id=TOKEN_1)]

    # Damaged bytes are an invalid offer, checked or filled; nothing is sent.
    truncated = offer[:-1]
    with pytest.raises(fog.FogError.InvalidOffer):
        fog.check_offer(truncated)
    with pytest.raises(fog.FogError.InvalidOffer):
        await bob.fill_offer(truncated, None, None)
    with pytest.raises(fog.FogError.InvalidOffer):
        fog.check_offer(b"not an offer")
    # A full-fill offer cannot be taken in part.
    with pytest.raises(fog.FogError.InvalidRequest):
        await bob.fill_offer(offer, give // 2, None)

    # Bob fills it and waits until it landed.
    receipt = await bob.fill_offer(offer, None, None)
    assert receipt.received == fog.TokenAmount(value=give, token_id=0)
    assert receipt.paid == [fog.TokenAmount(value=want, token_id=TOKEN_1)]
    assert receipt.fee == fog.TokenAmount(value=MINIMUM_FEE, token_id=0)
    assert len(bytes.fromhex(receipt.tx_hash)) == 32
    assert receipt.balance.block_count > receipt.block_index
    assert value(receipt.balance, 0) == b_mob + give - MINIMUM_FEE
    assert value(receipt.balance, TOKEN_1) == b_t1 - want
    assert bob.last_balance() == receipt.balance

    # Alice gave exactly what she offered and got exactly what she asked.
    a_after = await balance_covering(alice, receipt.block_index)
    assert value(a_after, 0) == a_mob - give
    assert value(a_after, TOKEN_1) == a_t1 + want
    print(
        f"filled in block {receipt.block_index} (fee {receipt.fee.value}): "
        f"alice {value(a_after, 0)} MOB {value(a_after, TOKEN_1)} T1, "
        f"bob {value(receipt.balance, 0)} MOB {value(receipt.balance, TOKEN_1)} T1"
    )

    # Filling it again is a double spend: the offered TxOut is spent. Nothing changes.
    with pytest.raises(fog.FogError.DoubleSpend) as e:
        await bob.fill_offer(offer, None, None)
    assert e.value.service == fog.Service.NODE
    b_again = await bob.check_balance(None)
    assert value(b_again, 0) == b_mob + give - MINIMUM_FEE
    assert value(b_again, TOKEN_1) == b_t1 - want

    # The one-block offer is past its last block now (the fill added one).
    with pytest.raises(fog.FogError.Expired) as e:
        await bob.fill_offer(short, MOB, None)
    assert e.value.tombstone_block == short_summary.max_tombstone_block
    assert e.value.block_count >= short_summary.max_tombstone_block
    b_last = await bob.check_balance(None)
    assert value(b_last, 0) == b_mob + give - MINIMUM_FEE
    assert value(b_last, TOKEN_1) == b_t1 - want

    # A fill can pay a fee of its own, as a send can (fog-wallet fill --fee): Bob takes half
    # of a partial offer and pays twice the minimum fee.
    third = await alice.make_offer(2 * MOB, 0, 40_000, TOKEN_1, MOB, 100)
    fee = 2 * MINIMUM_FEE
    receipt = await bob.fill_offer(third, MOB, fee)
    assert receipt.received == fog.TokenAmount(value=MOB, token_id=0)
    assert receipt.paid == [fog.TokenAmount(value=20_000, token_id=TOKEN_1)]
    assert receipt.fee == fog.TokenAmount(value=fee, token_id=0)
    assert value(receipt.balance, 0) == value(b_last, 0) + MOB - fee
    assert value(receipt.balance, TOKEN_1) == value(b_last, TOKEN_1) - 20_000
    print(
        f"filled half of a partial offer with fee {fee} in block {receipt.block_index}: "
        f"bob {value(receipt.balance, 0)} MOB {value(receipt.balance, TOKEN_1)} T1"
    )

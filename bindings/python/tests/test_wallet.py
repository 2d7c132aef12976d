"""Fog's client from Python, against a real `fogd local-network` (conftest.py).

One story, in order: a new wallet is made from a fresh mnemonic with the network's fog
settings, a funded demo wallet pays it, both balances are exact to the picoMOB (fee
included), the history says who paid and what the payment cost, the new wallet pays back,
and its state survives a save and a restore. Async calls are awaited with asyncio.
"""

import asyncio
import os
import socket
import tempfile
import threading

import pytest

import fog

MOB = 1_000_000_000_000
# MobileCoin's minimum MOB fee, which a send pays when no fee is given.
MINIMUM_FEE = 400_000_000
# How long a payment may take to show up in the recipient's balance.
ARRIVAL_TIMEOUT_S = 120


class Progress(fog.BalanceProgress):
    """Records every progress callback, and the threads they came on."""

    def __init__(self):
        self.events = []
        self.threads = set()

    def on_progress(self, progress):
        self.events.append(progress)
        self.threads.add(threading.get_ident())


class Raising(fog.BalanceProgress):
    """A progress callback with a bug: it raises, and counts how often it was called."""

    def __init__(self):
        self.calls = 0

    def on_progress(self, progress):
        self.calls += 1
        raise RuntimeError("the app's progress display failed")


def value(balance, token_id=0):
    return int(fog.balance_of(balance, token_id))


def network_config(net):
    return fog.NetworkConfig(
        node_url=net.node_url,
        view_url=net.view_url,
        ledger_url=net.ledger_url,
        attestation_policy=net.attestation_policy,
        attestation_key=None,
    )


def fog_settings(net):
    return fog.FogSettings(
        report_url=net.report_url, report_id="", authority_spki=net.authority_spki
    )


async def balance_covering(wallet, block_index, progress=None):
    """Checks until the balance covers `block_index`, then returns it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ARRIVAL_TIMEOUT_S
    while True:
        balance = await wallet.check_balance(progress)
        if balance.block_count > block_index:
            return balance
        if loop.time() > deadline:
            raise AssertionError(
                f"the balance did not reach block {block_index} in {ARRIVAL_TIMEOUT_S} s "
                f"(block count {balance.block_count})"
            )
        await asyncio.sleep(0.5)


def closed_port():
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- local calls -----------------------------------------------------------------------


def test_keys_and_addresses():
    phrase = fog.generate_mnemonic()
    assert len(phrase.split(" ")) == 24
    account = fog.Account.from_mnemonic(phrase, 0, None)
    other = fog.Account.from_mnemonic(phrase, 1, None)
    assert account.address() != other.address()
    assert account.subaddress(0) == account.address()
    assert account.change_address() != account.address()
    info = fog.decode_address("  " + account.address() + "\n")
    assert info.b58 == account.address()
    assert info.fog_report_url is None and not info.has_fog_signature
    assert len(bytes.fromhex(info.short_address_hash)) == 16

    # An address with fog carries the settings and the authority's signature.
    spki = fog.parse_authority_spki(bytes([0x30, 0x03, 0x02, 0x01, 0x07]))
    settings = fog.FogSettings(report_url="insecure-fog://127.0.0.1:9", report_id="7", authority_spki=spki)
    with_fog = fog.Account.from_mnemonic(phrase, 0, settings)
    assert with_fog.fog() == settings
    info = fog.decode_address(with_fog.address())
    assert info.fog_report_url == "insecure-fog://127.0.0.1:9"
    assert info.fog_report_id == "7" and info.has_fog_signature
    assert fog.address_signed_by_authority(with_fog.address(), spki)
    assert not fog.address_signed_by_authority(with_fog.address(), bytes([0x30, 0x00]))

    assert fog.parse_amount("2.5", 0) == 2 * MOB + MOB // 2
    assert fog.format_amount(str(39_999_600_000_000), 0) == "39.9996 MOB"


def test_bad_input_raises_typed_errors():
    phrase = fog.generate_mnemonic()
    wrong = " ".join(phrase.split(" ")[:-1] + ["zzzz"])
    with pytest.raises(fog.FogError.InvalidMnemonic) as e:
        fog.Account.from_mnemonic(wrong, 0, None)
    assert "zzzz" not in str(e.value) and phrase.split(" ")[0] not in e.value.message()
    with pytest.raises(fog.FogError.InvalidAddress):
        fog.decode_address("not an address")
    with pytest.raises(fog.FogError.InvalidSettings) as e:
        fog.Account.from_mnemonic(
            phrase, 0, fog.FogSettings(report_url="https://x", report_id="", authority_spki=b"0\x00")
        )
    assert "fog report URL" in e.value.reason
    with pytest.raises(fog.FogError.InvalidRequest):
        fog.parse_amount("1.2.3", 0)
    config = fog.NetworkConfig(
        node_url="http://127.0.0.1:1",
        view_url="http://127.0.0.1:2",
        ledger_url="http://127.0.0.1:3",
        attestation_policy=None,
        attestation_key=None,
    )
    with pytest.raises(fog.FogError.InvalidSettings):
        fog.Wallet(phrase, 0, None, config, None)
    config.attestation_key = "11" * 32
    with pytest.raises(fog.FogError.InvalidState):
        fog.Wallet(phrase, 0, None, config, b"\xff" * 9)


def test_an_unreachable_service_is_named():
    port = closed_port()
    config = fog.NetworkConfig(
        node_url=f"http://127.0.0.1:{port}",
        view_url=f"http://127.0.0.1:{port}",
        ledger_url=f"http://127.0.0.1:{port}",
        attestation_policy=None,
        attestation_key="11" * 32,
    )
    wallet = fog.Wallet(fog.generate_mnemonic(), 0, None, config, None)
    with pytest.raises(fog.FogError.Unavailable) as e:
        asyncio.run(wallet.check_balance(None))
    assert e.value.service == fog.Service.VIEW
    assert e.value.failed_service() == fog.Service.VIEW
    assert e.value.uri == f"http://127.0.0.1:{port}"
    assert "fog view" in e.value.message()
    assert wallet.last_balance() is None


# --- against the local network ------------------------------------------------------------


def test_create_fund_pay_history_and_restore(network):
    asyncio.run(_story(network))


async def _story(net):
    config = network_config(net)
    settings = fog_settings(net)
    funding = fog.parse_amount(net.demo_funding_text, 0)

    # The funded demo wallet, opened from the file fogd wrote (fog-wallet's format).
    alice = fog.Wallet.open_file(net.wallet_path("alice"), None)
    assert alice.fog() is not None and alice.fog().report_url == net.report_url
    assert {c.name for c in alice.contacts()} == set(net.wallet_names) - {"alice"}

    # A new wallet with the network's fog settings.
    phrase = fog.generate_mnemonic()
    mine = fog.Wallet(phrase, 0, settings, config, None)
    info = fog.decode_address(mine.address())
    assert info.fog_report_url == net.report_url and info.has_fog_signature
    assert fog.address_signed_by_authority(mine.address(), net.authority_spki)

    progress = Progress()
    empty = await mine.check_balance(progress)
    assert value(empty) == 0 and empty.balances == []
    assert progress.events, "no progress callback"
    assert progress.events[-1].view_requests >= 1
    assert threading.get_ident() not in progress.threads

    start = await alice.check_balance(None)
    assert value(start) == funding, f"alice starts with {value(start)}, fogd says {funding}"

    # Alice pays 2.5 MOB with the default fee, and waits until her change shows up.
    sent = 2 * MOB + MOB // 2
    receipt = await alice.send(mine.address(), sent, 0, None)
    assert receipt.value == sent and receipt.token_id == 0
    assert receipt.fee == MINIMUM_FEE
    assert len(bytes.fromhex(receipt.tx_hash)) == 32
    assert receipt.block_index is not None and receipt.balance is not None
    assert receipt.balance.block_count > receipt.block_index
    assert value(receipt.balance) == funding - sent - MINIMUM_FEE
    assert alice.last_balance() == receipt.balance
    assert alice.pending_sends() == 0

    # The new wallet sees exactly what was sent.
    got = await balance_covering(mine, receipt.block_index)
    assert value(got) == sent
    print(
        f"alice paid {sent} + fee {receipt.fee} in block {receipt.block_index}; "
        f"alice {value(receipt.balance)} at block count {receipt.balance.block_count}, "
        f"new wallet {value(got)} at block count {got.block_count}"
    )

    # History: who paid, and what the payment cost the payer.
    alice_address = alice.address()
    [entry] = mine.history([alice_address])
    assert entry.kind == fog.EntryKind.RECEIVED and not entry.change
    assert (entry.value, entry.token_id, entry.block_index) == (sent, 0, receipt.block_index)
    assert entry.sender == fog.Sender.AUTHENTICATED(address=alice_address)
    [unverified] = mine.history([])
    assert unverified.sender == fog.Sender.CLAIMED(
        short_address_hash=fog.decode_address(alice_address).short_address_hash
    )
    alice_history = alice.history([])
    in_block = [e for e in alice_history if e.block_index == receipt.block_index]
    spent = [e for e in in_block if e.kind == fog.EntryKind.SPENT]
    change = [e for e in in_block if e.kind == fog.EntryKind.RECEIVED and e.change]
    assert spent and len(change) == 1
    assert sum(e.value for e in spent) == sent + MINIMUM_FEE + change[0].value
    destination = change[0].destination
    assert destination is not None
    assert destination.fee == MINIMUM_FEE
    assert destination.total_outlay == sent + MINIMUM_FEE
    assert destination.num_recipients == 1
    assert destination.recipient_short_address_hash == info.short_address_hash

    # Asking too much is refused before anything is sent, naming what is available.
    with pytest.raises(fog.FogError.InsufficientFunds) as e:
        await mine.send(alice_address, 10 * MOB, 0, None)
    assert (e.value.token_id, int(e.value.available)) == (0, sent)
    assert int(e.value.needed) == 10 * MOB + MINIMUM_FEE
    with pytest.raises(fog.FogError.InvalidAddress):
        await mine.send("not an address", MOB, 0, None)

    # The new wallet pays 1 MOB back with an explicit fee (twice the minimum).
    fee = 2 * MINIMUM_FEE
    back = await mine.send(alice_address, MOB, 0, fee)
    assert back.fee == fee
    assert value(back.balance) == sent - MOB - fee
    alice_after = await balance_covering(alice, back.block_index)
    assert value(alice_after) == funding - sent - MINIMUM_FEE + MOB
    print(
        f"new wallet paid {MOB} + fee {back.fee} in block {back.block_index}; "
        f"new wallet {value(back.balance)}, alice {value(alice_after)} "
        f"at block count {alice_after.block_count}"
    )

    # A progress callback that raises is a typed error (test_a_progress_callback_that_raises);
    # the wallet goes on working.
    with pytest.raises(fog.FogError.Callback):
        await mine.check_balance(Raising())
    assert value(await mine.check_balance(None)) == sent - MOB - fee

    # Two checks at once on one wallet run one after the other and agree.
    first, second = await asyncio.gather(mine.check_balance(None), mine.check_balance(None))
    assert value(first) == value(second) == sent - MOB - fee

    # The stored state: restored from bytes, the wallet knows its balance and history
    # without asking anyone, and its next check is incremental.
    state = mine.state()
    restored = fog.Wallet(phrase, 0, settings, config, state)
    assert restored.state() == state
    assert restored.last_balance() == mine.last_balance()
    assert restored.history([alice_address]) == mine.history([alice_address])
    progress = Progress()
    again = await restored.check_balance(progress)
    assert value(again) == sent - MOB - fee
    assert again.block_count >= second.block_count
    assert progress.events[-1].records_found == 0, "an incremental check found old records again"

    # The same through fog-wallet's wallet file.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mine.json")
        mine.save_file(path, False)
        assert os.stat(path).st_mode & 0o077 == 0, "the wallet file is readable by others"
        with pytest.raises(fog.FogError.WalletFile):
            mine.save_file(path, False)
        opened = fog.Wallet.open_file(path, None)
        assert opened.address() == mine.address()
        assert opened.last_balance() == mine.last_balance()
        assert opened.network() == config
        assert value(await opened.check_balance(None)) == sent - MOB - fee


def test_a_progress_callback_that_raises(network):
    asyncio.run(_raising_callback(network))


async def _raising_callback(net):
    """A callback that raises is not called again; the check goes on to its end and keeps its
    balance, then raises FogError.Callback. Nothing panics, and the wallet stays usable."""
    wallet = fog.Wallet.open_file(net.wallet_path("alice"), None)
    raising = Raising()
    with pytest.raises(fog.FogError.Callback) as e:
        await wallet.check_balance(raising)
    assert raising.calls == 1, f"called {raising.calls} times after it raised"
    assert "the app's progress display failed" in e.value.reason
    assert e.value.failed_service() is None
    assert "progress callback" in e.value.message()

    # The check completed: its balance is the wallet's last balance, and its state is the
    # state of a complete check (the next check agrees, and starts from it).
    kept = wallet.last_balance()
    assert kept is not None, "the check did not keep its balance"
    progress = Progress()
    again = await wallet.check_balance(progress)
    assert again.block_count >= kept.block_count
    assert value(again) == value(kept)
    assert progress.events and progress.events[-1].records_found == 0, (
        "the check after the raising one found old records again"
    )

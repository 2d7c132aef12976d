// A smoke test of the generated Kotlin bindings (scripts/bindings.sh kotlin-smoke): keys and
// addresses, a typed exception, and async calls (suspend functions, a progress callback
// implemented in Kotlin) against a running `fogd local-network` whose directory is args[0].
// Exits non-zero on the first failed check.

import kotlinx.coroutines.runBlocking
import uniffi.fog.*

class Counter : BalanceProgress {
    var calls = 0
    override fun onProgress(progress: SyncProgress) {
        calls += 1
    }
}

fun main(args: Array<String>) {
    require(args.size == 1) { "usage: Smoke NETWORK_DIR" }
    val dir = args[0]

    val phrase = generateMnemonic()
    check(phrase.split(" ").size == 24)
    val account = Account.fromMnemonic(phrase, 0u, null)
    val info = decodeAddress(account.address())
    check(info.b58 == account.address() && info.fogReportUrl == null)
    try {
        decodeAddress("not an address")
        error("a bad address was accepted")
    } catch (e: FogException.InvalidAddress) {
        println("kotlin: bad address refused: ${e.reason}")
    }

    // The funded demo wallet of the local network, and what it says about itself.
    val alice = Wallet.openFile("$dir/wallets/alice.json", null)
    val counter = Counter()
    val balance = runBlocking { alice.checkBalance(counter) }
    val mob = balanceOf(balance, 0uL).toBigInteger()
    check(counter.calls > 0) { "no progress callback" }
    check(balance.blockCount >= 1uL) { "block count ${balance.blockCount}" }
    val history = alice.history(listOf())
    var sum = java.math.BigInteger.ZERO
    for (e in history) {
        if (e.tokenId != 0uL) continue
        val v = e.value.toString().toBigInteger()
        sum = if (e.kind == EntryKind.RECEIVED) sum + v else sum - v
    }
    check(sum == mob) { "history sums to $sum, the balance is $mob" }
    println("kotlin: alice has ${formatAmount(mob.toString(), 0uL)} at block count ${balance.blockCount} (${counter.calls} progress calls, ${history.size} history entries)")

    // A service that is not there is named in a typed exception from a suspend call.
    val net = NetworkConfig("http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9", null, "11".repeat(32))
    val lost = Wallet(phrase, 0u, null, net, null)
    try {
        runBlocking { lost.checkBalance(null) }
        error("an unreachable view service was not reported")
    } catch (e: FogException.Unavailable) {
        check(e.service == Service.VIEW)
        println("kotlin: ${e.message()}")
    }
    println("kotlin: smoke test passed")
}

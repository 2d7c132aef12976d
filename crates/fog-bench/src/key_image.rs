//! The key-image-check workload: the ledger enclave's `CheckKeyImages` end to end (seal the
//! request on a real attested session, open it in the enclave, one oblivious lookup per key
//! image, seal the answer, open and decode it on the client side).

use std::time::Instant;

use fog_attest::{
    fog_identity, BoundEvidence, ChannelKeypair, ClientHandshake, EnclaveResponder, FogEnclave,
    IdentityRule, Policy, ReportData, SessionLimits, SimProvider, UnixSeconds, Verifier,
};
use fog_enclave::{
    ledger::{LedgerBlock, LedgerEnclave, LedgerView},
    sessions::ClientSessions,
};
use fog_oram::HeapFactory;
use fog_transaction::{
    block::{Block, BlockContents},
    wire::KeyImage as WireKeyImage,
    KeyImage,
};
use fog_types::ledger::{
    CheckKeyImagesRequest, CheckKeyImagesResponse, KeyImageQuery, KeyImageResultCode,
};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

use crate::{get, round2, stats, thread_cpu_ns, Args};

/// The `i`-th key image of the run: distinct for distinct `i` (a counter spread by splitmix64).
fn key_image(seed: u64, i: u64) -> KeyImage {
    let mut out = [0u8; 32];
    for (j, chunk) in out.chunks_exact_mut(8).enumerate() {
        let mut z = seed
            .wrapping_add(i.wrapping_mul(4).wrapping_add(j as u64))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    // Distinctness: the first 8 bytes carry `i` itself.
    out[..8].copy_from_slice(&i.to_le_bytes());
    KeyImage(out)
}

/// `key-image-check --key-images N [--batch K] [--checks M] [--capacity C] [--block B]
/// [--seed S]`: a store holding N spent key images (added in blocks of B, default 1000) in a
/// map of C slots (default the next power of two ≥ N / 0.85), then M checks (default 20000) in
/// requests of K key images (default 100, MobileCoin's client batch), half spent, half not.
pub fn key_image_check(args: &Args) -> Result<(), String> {
    let n: u64 = get(args, "key-images", None)?;
    let batch: usize = get(args, "batch", Some(100))?;
    let checks: usize = get(args, "checks", Some(20_000))?;
    let per_block: u64 = get(args, "block", Some(1000))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    let capacity: u64 = get(
        args,
        "capacity",
        Some(
            ((n as f64 / 0.85).ceil() as u64)
                .max(1024)
                .next_power_of_two(),
        ),
    )?;
    if batch == 0 || batch > fog_enclave::ledger::MAX_KEY_IMAGES_PER_REQUEST {
        return Err("--batch must be between 1 and 4096".into());
    }
    if per_block == 0 {
        return Err("--block must be at least 1".into());
    }
    eprintln!("seed {seed}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);

    // The enclave, its evidence and a client session, as a server and a client hold them.
    let now = UnixSeconds(1_750_000_000);
    let identity = fog_identity(FogEnclave::Ledger);
    let provider = SimProvider::generate(&mut rng, identity);
    let keys = ChannelKeypair::generate().map_err(|e| e.to_string())?;
    let evidence = BoundEvidence {
        evidence: provider.evidence_at(&ReportData::bind(keys.public_key(), None), now),
        channel_key: *keys.public_key(),
        custom_identity: None,
    };
    let responder = EnclaveResponder::new(keys, evidence).map_err(|e| e.to_string())?;
    let sessions = ClientSessions::new(responder, 16, SessionLimits::default());
    let build = Instant::now();
    let enclave = LedgerEnclave::new(
        sessions,
        capacity,
        HeapFactory,
        ChaCha20Rng::seed_from_u64(seed ^ 0x1ed9),
    )
    .map_err(|e| e.to_string())?;
    let build_s = build.elapsed().as_secs_f64();

    let fill = Instant::now();
    let mut added = 0u64;
    let mut index = 0u64;
    let mut next_report = 1u64 << 20;
    let mut parent: Option<Block> = None;
    while added < n {
        let take = per_block.min(n - added);
        let contents = BlockContents {
            key_images: (added..added + take).map(|i| key_image(seed, i)).collect(),
            outputs: Vec::new(),
        };
        let header = match &parent {
            None => Block::new_origin(&contents),
            Some(p) => Block::new_with_parent(3, p, p.root_element, &contents),
        };
        enclave
            .add_block(&LedgerBlock {
                block: &header,
                contents: &contents,
                timestamp: 1_700_000_000 + index,
            })
            .map_err(|e| format!("adding block {index} ({added} key images stored): {e}"))?;
        added += take;
        index += 1;
        parent = Some(header);
        if added >= next_report {
            eprintln!(
                "filled {added} of {n} key images in {:.0} s",
                fill.elapsed().as_secs_f64()
            );
            next_report += 1 << 20;
        }
    }
    let fill_s = fill.elapsed().as_secs_f64();
    let (stored, slots) = enclave.load().map_err(|e| e.to_string())?;

    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    let (hs, hello) = ClientHandshake::start(verifier).map_err(|e| e.to_string())?;
    let answer = enclave
        .accept(&hello, fog_attest::PeerKey::UNKNOWN, now)
        .map_err(|e| e.to_string())?;
    let mut channel = hs
        .finish(&answer, now, SessionLimits::default())
        .map_err(|e| e.to_string())?;

    let view = LedgerView {
        ledger_blocks: index,
        max_blocks_behind: 0,
    };
    let rounds = checks.div_ceil(batch).max(1);
    let warmup = (rounds / 10).max(1);
    let mut samples = Vec::with_capacity(rounds);
    let mut cpu0 = None;
    let mut measured = Instant::now();
    let mut spent_seen = 0usize;
    for round in 0..warmup + rounds {
        if round == warmup {
            cpu0 = thread_cpu_ns();
            measured = Instant::now();
        }
        // Half spent (below n), half never added (at or above n), in random order.
        let mut expect_spent = Vec::with_capacity(batch);
        let queries: Vec<KeyImageQuery> = (0..batch)
            .map(|_| {
                let spent = rng.gen::<bool>() && n > 0;
                expect_spent.push(spent);
                let i = if spent {
                    rng.gen_range(0..n)
                } else {
                    n + rng.gen_range(0..1u64 << 40)
                };
                KeyImageQuery {
                    key_image: Some(WireKeyImage {
                        data: key_image(seed, i).0.to_vec(),
                    }),
                    start_block: 0,
                }
            })
            .collect();
        let t = Instant::now();
        let request = CheckKeyImagesRequest { queries }.encode_to_vec();
        let frame = channel
            .seal(&[], &request, now)
            .map_err(|e| e.to_string())?;
        let out = enclave
            .check_key_images(&frame, view, now)
            .map_err(|e| e.to_string())?;
        let plain = channel
            .open(&out.response, now)
            .map_err(|e| e.to_string())?;
        let response =
            CheckKeyImagesResponse::decode(plain.as_slice()).map_err(|e| e.to_string())?;
        if round >= warmup {
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
        // The answers must be right, or the figure means nothing.
        for (r, spent) in response.results.iter().zip(&expect_spent) {
            let want = if *spent {
                KeyImageResultCode::Spent
            } else {
                KeyImageResultCode::NotSpent
            };
            if r.key_image_result_code != want as u32 {
                return Err("a key image was answered wrongly".into());
            }
            spent_seen += usize::from(*spent);
        }
        if response.results.len() != batch {
            return Err("an answer has the wrong number of results".into());
        }
    }
    let wall = measured.elapsed().as_secs_f64();
    let cpu_s = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => Some((b - a) as f64 / 1e9),
        _ => None,
    };
    let total = (rounds * batch) as f64;
    let (median, p99) = stats(&mut samples);
    crate::emit(json!({
        "workload": "key-image-check",
        "key_images": n,
        "capacity": slots,
        "store_load": round4(stored as f64 / slots as f64),
        "batch": batch,
        "checks": rounds * batch,
        "spent_fraction": round4(spent_seen as f64 / ((warmup + rounds) * batch) as f64),
        "seed": seed,
        "checks_per_s": round2(total / wall),
        "cpu_checks_per_s": cpu_s.map(|c| round2(total / c)),
        "per_check_us": round2(wall * 1e6 / total),
        "batch_median_us": round2(median),
        "batch_p99_us": round2(p99),
        "build_s": round2(build_s),
        "fill_s": round2(fill_s),
        "fill_key_images_per_s": round2(n as f64 / fill_s.max(1e-9)),
    }));
    Ok(())
}

fn round4(x: f64) -> f64 {
    (x * 10000.0).round() / 10000.0
}

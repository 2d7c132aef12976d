//! The four ledger services in-process over gRPC on 127.0.0.1:0, with a real client handshake:
//! key images spent in the ledger are Spent with their block, unspent ones NotSpent as of
//! `num_blocks`; GetOutputs proofs verify against the ledger root; GetBlocks and GetTxOuts
//! return the ledger's data; malformed, oversize and unauthenticated calls get their status
//! and change nothing; a store behind the ledger is UNAVAILABLE.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::Arc, time::Duration};

use fog_account::AccountKey;
use fog_api::fog_ledger::{
    fog_block_api_client::FogBlockApiClient, fog_key_image_api_client::FogKeyImageApiClient,
    fog_merkle_proof_api_client::FogMerkleProofApiClient,
    fog_untrusted_tx_out_api_client::FogUntrustedTxOutApiClient,
};
use fog_attest::{
    fog_identity,
    wire::{AuthMessage, NonceMessage},
    Channel, ClientHandshake, FogEnclave, IdentityRule, Policy, SessionLimits, SimProvider,
    UnixSeconds, Verifier,
};
use fog_crypto::RistrettoPrivate;
use fog_enclave::boundary::ledger::{LedgerBoundary, LedgerConfig};
use fog_enclave_api::SharedEnclave;
use fog_ledger_db::{verify_membership_proof, LedgerDb};
use fog_ledger_server::{metrics, LedgerServer, LedgerServerConfig, LedgerService};
use fog_transaction::{
    block::BlockContents,
    membership::TxOutMembershipProof,
    wire::{CompressedRistretto, KeyImage as WireKeyImage},
    Amount, BlockVersion, EncryptedFogHint, KeyImage, TokenId, TxOut,
};
use fog_types::{
    common::BlockRange,
    ledger::{
        BlockIdsRequest, BlockIdsResponse, BlockRequest, CheckKeyImagesRequest,
        CheckKeyImagesResponse, GetOutputsRequest, GetOutputsResponse, KeyImageQuery,
        KeyImageResultCode, OutputResultCode, TxOutRequest, TxOutResultCode, BLOCK_IDS_AAD,
    },
};
use prost::Message;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tonic::{transport::Channel as Transport, Code};

const TXOUTS_PER_BLOCK: usize = 3;

fn ts(block: u64) -> u64 {
    1_700_000_000 + 10 * block
}

/// Appends a block of three fresh TxOuts that spends `key_images` (the origin block when the
/// ledger is empty, which spends none).
fn append(ledger: &LedgerDb, rng: &mut ChaCha20Rng, key_images: Vec<KeyImage>) {
    let outputs: Vec<TxOut> = (0..TXOUTS_PER_BLOCK)
        .map(|_| {
            let to = AccountKey::random(rng).default_subaddress();
            TxOut::new(
                BlockVersion::THREE,
                Amount::new(7, TokenId::MOB),
                &to,
                &RistrettoPrivate::random(rng),
                EncryptedFogHint::fake_onetime_hint(rng),
            )
            .unwrap()
        })
        .collect();
    let index = ledger.num_blocks().unwrap();
    fog_test_support::chain::append_next_block(ledger, outputs, key_images, ts(index)).unwrap();
}

fn random_key_image(rng: &mut ChaCha20Rng) -> KeyImage {
    let mut k = [0u8; 32];
    rng.fill_bytes(&mut k);
    KeyImage(k)
}

struct Fixture {
    server: Arc<LedgerServer>,
    ledger: LedgerDb,
    verifier: Verifier,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fixture {
    /// A ledger of `blocks` blocks (block b ≥ 1 spends `key_images[b - 1]`) and a server on
    /// 127.0.0.1:0; `follow` runs the follower, else the store stays as it is.
    async fn start(
        seed: u64,
        blocks: u64,
        key_images: &[KeyImage],
        config: LedgerServerConfig,
        follow: bool,
    ) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        println!("seed {seed}");
        let ledger = LedgerDb::create_in_memory().unwrap();
        for b in 0..blocks {
            let spends = match b {
                0 => vec![],
                b => vec![key_images[(b - 1) as usize]],
            };
            append(&ledger, &mut rng, spends);
        }
        let identity = fog_identity(FogEnclave::Ledger);
        let provider = SimProvider::generate(&mut rng, identity);
        // The simulated enclave, loaded as fogd loads it but with its store's randomness
        // seeded here, for a reproducible run.
        let enclave: SharedEnclave = Arc::new(
            LedgerBoundary::dangerous_with_rng(
                LedgerConfig {
                    key_image_capacity: 1 << 10,
                    ..LedgerConfig::default()
                },
                ChaCha20Rng::seed_from_u64(seed ^ 0x1ed9),
            )
            .unwrap(),
        );
        let server =
            Arc::new(LedgerServer::new(ledger.clone(), enclave, &provider, config).unwrap());
        let verifier = Verifier::new(
            provider.trust_anchor(),
            Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = if follow {
            let s = Arc::clone(&server);
            tokio::spawn(async move {
                fog_ledger_server::run(s, listener, shutdown).await.unwrap();
            })
        } else {
            let s = Arc::clone(&server);
            tokio::spawn(async move {
                tonic::transport::Server::builder()
                    .add_routes(LedgerService::new(s).routes())
                    .serve_with_incoming_shutdown(fog_host::incoming(listener), shutdown)
                    .await
                    .unwrap();
            })
        };
        Self {
            server,
            ledger,
            verifier,
            url,
            stop: Some(stop),
            task,
        }
    }

    async fn caught_up(&self) {
        for _ in 0..500 {
            if self.server.status().unwrap().blocks_behind() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the store did not catch up");
    }

    async fn key_images(&self) -> FogKeyImageApiClient<Transport> {
        FogKeyImageApiClient::connect(self.url.clone())
            .await
            .unwrap()
    }

    async fn merkle(&self) -> FogMerkleProofApiClient<Transport> {
        FogMerkleProofApiClient::connect(self.url.clone())
            .await
            .unwrap()
            .max_decoding_message_size(16 << 20)
    }

    /// A session made through `FogKeyImageAPI.Auth`.
    async fn session(&self, client: &mut FogKeyImageApiClient<Transport>) -> Channel {
        let (hs, hello) = ClientHandshake::start(self.verifier.clone()).unwrap();
        let answer = client
            .auth(AuthMessage { data: hello })
            .await
            .unwrap()
            .into_inner();
        hs.finish(&answer.data, UnixSeconds::now(), SessionLimits::default())
            .unwrap()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

fn queries(key_images: &[&[u8]]) -> Vec<u8> {
    CheckKeyImagesRequest {
        queries: key_images
            .iter()
            .map(|k| KeyImageQuery {
                key_image: Some(WireKeyImage { data: k.to_vec() }),
                start_block: 0,
            })
            .collect(),
    }
    .encode_to_vec()
}

async fn check(
    client: &mut FogKeyImageApiClient<Transport>,
    channel: &mut Channel,
    request: &[u8],
) -> Result<CheckKeyImagesResponse, tonic::Status> {
    let frame = channel.seal(&[], request, UnixSeconds::now()).unwrap();
    let answer = client.check_key_images(frame).await?.into_inner();
    let plain = channel.open(&answer, UnixSeconds::now()).unwrap();
    Ok(CheckKeyImagesResponse::decode(plain.as_slice()).unwrap())
}

fn config() -> LedgerServerConfig {
    LedgerServerConfig {
        poll_interval: Duration::from_millis(10),
        ..LedgerServerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spent_and_unspent_key_images() {
    let mut rng = ChaCha20Rng::seed_from_u64(100);
    let spent: Vec<KeyImage> = (0..4).map(|_| random_key_image(&mut rng)).collect();
    let later = random_key_image(&mut rng);
    let f = Fixture::start(1, 5, &spent, config(), true).await;
    f.caught_up().await;
    let mut client = f.key_images().await;
    let mut channel = f.session(&mut client).await;

    let r = check(
        &mut client,
        &mut channel,
        &queries(&[spent[2].as_bytes(), later.as_bytes(), spent[0].as_bytes()]),
    )
    .await
    .unwrap();
    assert_eq!(r.num_blocks, 5);
    assert_eq!(r.num_blocks, f.ledger.num_blocks().unwrap());
    assert_eq!(r.global_txo_count, 15);
    assert_eq!(r.latest_block_version, 3);
    let codes: Vec<u32> = r.results.iter().map(|r| r.key_image_result_code).collect();
    assert_eq!(
        codes,
        [
            KeyImageResultCode::Spent as u32,
            KeyImageResultCode::NotSpent as u32,
            KeyImageResultCode::Spent as u32
        ]
    );
    // spent[i] is spent in block i + 1, with that block's timestamp.
    assert_eq!((r.results[0].spent_at, r.results[0].timestamp), (3, ts(3)));
    assert_eq!((r.results[2].spent_at, r.results[2].timestamp), (1, ts(1)));
    assert_eq!(
        (r.results[1].spent_at, r.results[1].timestamp),
        (u64::MAX, u64::MAX)
    );

    // The ledger grows: the follower stores the new block, and `later` becomes spent.
    append(&f.ledger, &mut rng, vec![later]);
    f.caught_up().await;
    let r = check(&mut client, &mut channel, &queries(&[later.as_bytes()]))
        .await
        .unwrap();
    assert_eq!(r.num_blocks, 6);
    assert_eq!(
        r.results[0].key_image_result_code,
        KeyImageResultCode::Spent as u32
    );
    assert_eq!(r.results[0].spent_at, 5);

    let text = metrics::metrics_text(&f.server);
    assert!(
        text.contains("fog_ledger_key_image_requests_total 2\n"),
        "{text}"
    );
    assert!(
        text.contains("fog_ledger_key_images_checked_total 4\n"),
        "{text}"
    );
    assert!(text.contains("fog_ledger_blocks_behind 0\n"), "{text}");
    assert!(text.contains("fog_ledger_store_key_images 5\n"), "{text}");
    assert!(metrics::readiness(&f.server).0);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_outputs_proofs_verify_against_the_root() {
    let mut rng = ChaCha20Rng::seed_from_u64(200);
    let spent: Vec<KeyImage> = (0..6).map(|_| random_key_image(&mut rng)).collect();
    let f = Fixture::start(2, 7, &spent, config(), true).await;
    // One session serves both attested services.
    let mut ki_client = f.key_images().await;
    let mut channel = f.session(&mut ki_client).await;
    let mut client = f.merkle().await;
    let num_txos = f.ledger.num_txos().unwrap();
    let indices = vec![0, 5, num_txos - 1, num_txos, 12];
    let request = GetOutputsRequest {
        indices: indices.clone(),
        merkle_root_block: 0,
    };
    let frame = channel
        .seal(&[], &request.encode_to_vec(), UnixSeconds::now())
        .unwrap();
    let answer = client.get_outputs(frame).await.unwrap().into_inner();
    let plain = channel.open(&answer, UnixSeconds::now()).unwrap();
    let response = GetOutputsResponse::decode(plain.as_slice()).unwrap();
    assert_eq!(response.num_blocks, 7);
    assert_eq!(response.global_txo_count, num_txos);
    assert_eq!(response.latest_block_version, 3);
    assert_eq!(response.max_block_version, 4);
    let root = f.ledger.root_element().unwrap();
    assert_eq!(response.results.len(), indices.len());
    for (r, &index) in response.results.iter().zip(&indices) {
        assert_eq!(r.index, index);
        if index >= num_txos {
            assert_eq!(r.result_code, OutputResultCode::DoesNotExist as u32);
            assert!(r.output.is_none() && r.proof.is_none());
            continue;
        }
        assert_eq!(r.result_code, OutputResultCode::Exists as u32);
        let tx_out = TxOut::try_from_wire(r.output.as_ref().unwrap()).unwrap();
        assert_eq!(tx_out, f.ledger.get_tx_out(index).unwrap().unwrap());
        let proof = TxOutMembershipProof::try_from_wire(r.proof.as_ref().unwrap()).unwrap();
        verify_membership_proof(&tx_out, &proof, &root.hash).unwrap();
        // The proof does not verify for another TxOut.
        let other = f
            .ledger
            .get_tx_out((index + 1) % num_txos)
            .unwrap()
            .unwrap();
        assert!(verify_membership_proof(&other, &proof, &root.hash).is_err());
    }

    // More than 2000 indices: INVALID_ARGUMENT, and the session answers on.
    let too_many = GetOutputsRequest {
        indices: (0..2001).collect(),
        merkle_root_block: 0,
    };
    let frame = channel
        .seal(&[], &too_many.encode_to_vec(), UnixSeconds::now())
        .unwrap();
    let status = client.get_outputs(frame).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let frame = channel
        .seal(&[], &request.encode_to_vec(), UnixSeconds::now())
        .unwrap();
    let answer = client.get_outputs(frame).await.unwrap().into_inner();
    assert!(channel.open(&answer, UnixSeconds::now()).is_ok());
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_get_their_status_and_change_nothing() {
    let mut rng = ChaCha20Rng::seed_from_u64(300);
    let spent: Vec<KeyImage> = (0..3).map(|_| random_key_image(&mut rng)).collect();
    let f = Fixture::start(3, 4, &spent, config(), true).await;
    f.caught_up().await;
    let mut client = f.key_images().await;
    let mut channel = f.session(&mut client).await;
    let before = f.server.status().unwrap();

    // A hello that is not a Noise message.
    let status = client
        .auth(AuthMessage {
            data: vec![1, 2, 3],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // A frame that opens but is not a request.
    let status = check(&mut client, &mut channel, &[0xff; 7])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(status.message(), "malformed request");

    // Too many key images.
    let many: Vec<[u8; 32]> = (0..4097u32)
        .map(|i| {
            let mut k = [1u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            k
        })
        .collect();
    let refs: Vec<&[u8]> = many.iter().map(|k| &k[..]).collect();
    let status = check(&mut client, &mut channel, &queries(&refs))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // The session still answers after those two (both frames were opened).
    let r = check(&mut client, &mut channel, &queries(&[spent[0].as_bytes()]))
        .await
        .unwrap();
    assert_eq!(
        r.results[0].key_image_result_code,
        KeyImageResultCode::Spent as u32
    );

    // A tampered frame: INVALID_ARGUMENT, with no detail.
    let mut frame = channel
        .seal(&[], &queries(&[spent[1].as_bytes()]), UnixSeconds::now())
        .unwrap();
    frame.data[3] ^= 0x40;
    let status = client.check_key_images(frame.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(!status.message().contains("key"));

    // An unknown session: UNAUTHENTICATED, "authenticate again".
    let stranger = NonceMessage {
        channel_id: vec![7; 64],
        ..frame
    };
    let status = client.check_key_images(stranger).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("authenticate again"));

    // Nothing changed: the store, the blocks, the one session.
    let after = f.server.status().unwrap();
    assert_eq!(after, before);
    assert_eq!(after.sessions, 1);
    let text = metrics::metrics_text(&f.server);
    assert!(
        text.contains("fog_ledger_request_errors_total{code=\"invalid_argument\"} 4\n"),
        "{text}"
    );
    assert!(
        text.contains("fog_ledger_request_errors_total{code=\"unauthenticated\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("fog_ledger_key_image_requests_total 1\n"),
        "{text}"
    );

    // A new session works.
    let mut fresh = f.session(&mut client).await;
    let r = check(&mut client, &mut fresh, &queries(&[spent[2].as_bytes()]))
        .await
        .unwrap();
    assert_eq!(r.results[0].spent_at, 3);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_behind_the_ledger_is_unavailable() {
    let mut rng = ChaCha20Rng::seed_from_u64(400);
    let spent: Vec<KeyImage> = (0..9).map(|_| random_key_image(&mut rng)).collect();
    let config = LedgerServerConfig {
        max_blocks_behind: 3,
        ..config()
    };
    // No follower: the store stays empty until the test adds blocks.
    let f = Fixture::start(4, 10, &spent, config, false).await;
    let mut client = f.key_images().await;
    let mut channel = f.session(&mut client).await;
    let status = check(&mut client, &mut channel, &queries(&[spent[0].as_bytes()]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("10 blocks behind"), "{status:?}");
    let (ready, body) = metrics::readiness(&f.server);
    assert!(!ready);
    assert!(body.contains("10 blocks behind"), "{body}");

    // Within the allowed lag it answers, as of the store's own block count.
    assert_eq!(f.server.catch_up(7).unwrap(), 7);
    let r = check(
        &mut client,
        &mut channel,
        &queries(&[spent[0].as_bytes(), spent[8].as_bytes()]),
    )
    .await
    .unwrap();
    assert_eq!(r.num_blocks, 7);
    assert_eq!(
        r.results[0].key_image_result_code,
        KeyImageResultCode::Spent as u32
    );
    // spent[8] is in block 9, which the store does not hold yet: not spent before block 7.
    assert_eq!(
        r.results[1].key_image_result_code,
        KeyImageResultCode::NotSpent as u32
    );
    assert!(metrics::readiness(&f.server).0);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_blocks_and_get_tx_outs_return_the_ledger() {
    let mut rng = ChaCha20Rng::seed_from_u64(500);
    let spent: Vec<KeyImage> = (0..5).map(|_| random_key_image(&mut rng)).collect();
    let f = Fixture::start(5, 6, &spent, config(), true).await;
    let mut blocks = FogBlockApiClient::connect(f.url.clone()).await.unwrap();
    let response = blocks
        .get_blocks(BlockRequest {
            ranges: vec![BlockRange::new(0, 2), BlockRange::new(4, 9)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.num_blocks, 6);
    assert_eq!(response.global_txo_count, 18);
    let indices: Vec<u64> = response.blocks.iter().map(|b| b.index).collect();
    assert_eq!(indices, [0, 1, 4, 5]);
    for b in &response.blocks {
        let contents = f.ledger.get_block_contents(b.index).unwrap().unwrap();
        let want: Vec<_> = contents.outputs.iter().map(|o| o.to_wire()).collect();
        assert_eq!(b.outputs, want);
        assert_eq!(b.global_txo_count, 3 * (b.index + 1));
        assert_eq!(b.timestamp, ts(b.index));
        assert_eq!(b.timestamp_result_code, 1);
        // Fog's own fields: the header, and the key images that with the outputs make the
        // contents its hash commits to.
        let header = f.ledger.get_block(b.index).unwrap().unwrap();
        assert_eq!(b.block.as_ref(), Some(&header.to_wire()));
        assert_eq!(b.key_images, contents.to_wire().key_images);
        let rebuilt = BlockContents::try_from_wire(&fog_transaction::wire::BlockContents {
            key_images: b.key_images.clone(),
            outputs: b.outputs.clone(),
        })
        .unwrap();
        assert_eq!(rebuilt.hash(), header.contents_hash);
    }

    // The attested ids of those blocks, from the enclave's verified chain.
    f.caught_up().await;
    let mut client = f.key_images().await;
    let mut channel = f.session(&mut client).await;
    let request = BlockIdsRequest {
        indices: vec![0, 5, 6],
    }
    .encode_to_vec();
    let frame = channel
        .seal(BLOCK_IDS_AAD, &request, UnixSeconds::now())
        .unwrap();
    let answer = client.get_block_ids(frame).await.unwrap().into_inner();
    let plain = channel.open(&answer, UnixSeconds::now()).unwrap();
    let ids = BlockIdsResponse::decode(plain.as_slice()).unwrap();
    let id = |i: u64| f.ledger.get_block(i).unwrap().unwrap().id.to_vec();
    assert_eq!(ids.ids[0].data, id(0));
    assert_eq!(ids.ids[1].data, id(5));
    assert!(ids.ids[2].data.is_empty());
    assert_eq!((ids.num_blocks, ids.global_txo_count), (6, 18));
    assert_eq!(ids.last_block_id.unwrap().data, id(5));
    let too_many = BlockIdsRequest {
        indices: vec![0; 1001],
    }
    .encode_to_vec();
    let frame = channel
        .seal(BLOCK_IDS_AAD, &too_many, UnixSeconds::now())
        .unwrap();
    let status = client.get_block_ids(frame).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        f.server
            .metrics()
            .get_block_ids
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    for ranges in [
        vec![BlockRange::new(0, 1001)],
        vec![BlockRange::new(0, 600), BlockRange::new(0, 600)],
        vec![BlockRange::new(5, 2)],
    ] {
        let status = blocks
            .get_blocks(BlockRequest { ranges })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }

    let mut tx_outs = FogUntrustedTxOutApiClient::connect(f.url.clone())
        .await
        .unwrap();
    let known = f.ledger.get_tx_out(10).unwrap().unwrap();
    let response = tx_outs
        .get_tx_outs(TxOutRequest {
            tx_out_pubkeys: vec![
                CompressedRistretto {
                    data: known.public_key.as_bytes().to_vec(),
                },
                CompressedRistretto { data: vec![9; 32] },
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.num_blocks, 6);
    let found = &response.results[0];
    assert_eq!(found.result_code, TxOutResultCode::Found as i32);
    assert_eq!(found.tx_out_global_index, 10);
    assert_eq!(found.block_index, 3);
    assert_eq!(found.timestamp, ts(3));
    assert_eq!(
        response.results[1].result_code,
        TxOutResultCode::NotFound as i32
    );
    let status = tx_outs
        .get_tx_outs(TxOutRequest {
            tx_out_pubkeys: vec![CompressedRistretto { data: vec![1; 31] }],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_get_their_own_answers() {
    let mut rng = ChaCha20Rng::seed_from_u64(600);
    let spent: Vec<KeyImage> = (0..8).map(|_| random_key_image(&mut rng)).collect();
    let unspent: Vec<KeyImage> = (0..8).map(|_| random_key_image(&mut rng)).collect();
    let f = Arc::new(Fixture::start(6, 9, &spent, config(), true).await);
    f.caught_up().await;
    let mut tasks = Vec::new();
    for c in 0..4usize {
        let f = Arc::clone(&f);
        let (spent, unspent) = (spent.clone(), unspent.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = f.key_images().await;
            let mut channel = f.session(&mut client).await;
            for round in 0..5usize {
                let i = (c + round) % 8;
                let r = check(
                    &mut client,
                    &mut channel,
                    &queries(&[unspent[i].as_bytes(), spent[i].as_bytes()]),
                )
                .await
                .unwrap();
                assert_eq!(
                    r.results[0].key_image_result_code,
                    KeyImageResultCode::NotSpent as u32
                );
                assert_eq!(
                    r.results[1].key_image_result_code,
                    KeyImageResultCode::Spent as u32
                );
                assert_eq!(r.results[1].spent_at, i as u64 + 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(f.server.status().unwrap().sessions, 4);
    let text = metrics::metrics_text(&f.server);
    assert!(
        text.contains("fog_ledger_key_image_requests_total 20\n"),
        "{text}"
    );
    Arc::try_unwrap(f).ok().unwrap().stop().await;
}

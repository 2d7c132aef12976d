//! A ledger router over three key-image stores of block ranges (`0..3`, `3..6`, `6..`), each a
//! fog ledger with its own copy of the ledger, all over gRPC on 127.0.0.1 in one process; the
//! client talks to the router as to a fog ledger:
//!
//! - the router's gRPC health is SERVING only once a store from block 0 answers (a store added
//!   at run time through `fog_router.RouterAdminAPI`);
//! - a batch across all shards answers each key image once, in order, Spent at its block;
//! - a block's key images are NotSpent (with the right `num_blocks`) before it lands, Spent at
//!   it after;
//! - a store stopped: `num_blocks` falls to the stores' contiguous cover, and spends past it
//!   are hidden;
//! - `GetOutputs`, `GetBlocks` and `GetBlockIds` are answered by the router from its own copy;
//! - a store's `StoreAPI` refuses what is not a ledger router's with fixed statuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use fog_api::{
    fog_ledger::{
        fog_block_api_client::FogBlockApiClient, fog_key_image_api_client::FogKeyImageApiClient,
        fog_merkle_proof_api_client::FogMerkleProofApiClient,
    },
    fog_router::{
        router_admin_api_client::RouterAdminApiClient, store_api_client::StoreApiClient,
        AddStoreRequest, GetStoresRequest, StoresResponse,
    },
};
use fog_attest::{
    fog_identity,
    wire::{AuthMessage, NonceMessage},
    BoundEvidence, Channel, ClientHandshake, FogEnclave, IdentityRule, Policy, SessionLimits,
    SimProvider, UnixSeconds, Verifier,
};
use fog_enclave::boundary::ledger::{LedgerBoundary, LedgerConfig, PeerLinks};
use fog_enclave::boundary::ledger_router::{LedgerRouterBoundary, LedgerRouterConfig};
use fog_enclave_api::SharedEnclave;
use fog_ledger_db::{verify_membership_proof, LedgerDb};
use fog_ledger_server::{router, LedgerServer, LedgerServerConfig, StoresConfig};
use fog_transaction::{
    membership::TxOutMembershipProof, wire::KeyImage as WireKeyImage, KeyImage, TxOut,
};
use fog_types::{
    common::BlockRange,
    ledger::{
        BlockIdsRequest, BlockIdsResponse, BlockRequest, CheckKeyImagesRequest,
        CheckKeyImagesResponse, GetOutputsRequest, GetOutputsResponse, KeyImageQuery,
        KeyImageResultCode, OutputResultCode, BLOCK_IDS_AAD,
    },
};
use prost::Message;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::net::TcpListener;
use tonic::{transport::Channel as Transport, Code};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

const SPENT: u32 = KeyImageResultCode::Spent as u32;
const NOT_SPENT: u32 = KeyImageResultCode::NotSpent as u32;
/// The key-image stores' ranges.
const RANGES: [(u64, u64); 3] = [(0, 3), (3, 6), (6, u64::MAX)];

fn ts(block: u64) -> u64 {
    1_700_000_000 + 10 * block
}

fn key_image(rng: &mut ChaCha20Rng) -> KeyImage {
    let mut k = [0u8; 32];
    rng.fill_bytes(&mut k);
    KeyImage(k)
}

/// One chain, a copy of it in each service's own ledger DB (as each follows the nodes).
struct Chain {
    copies: Vec<LedgerDb>,
    rng: ChaCha20Rng,
}

impl Chain {
    fn new(copies: usize, seed: u64) -> Self {
        Self {
            copies: (0..copies)
                .map(|_| LedgerDb::create_in_memory().unwrap())
                .collect(),
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// Appends the next block, spending `spends` (none for the origin), to every copy.
    fn grow(&mut self, spends: Vec<KeyImage>) -> u64 {
        let outputs: Vec<TxOut> = (0..3)
            .map(|_| fog_test_support::chain::synthetic_tx_out(&mut self.rng))
            .collect();
        let index = self.copies[0].num_blocks().unwrap();
        let (block, contents) =
            fog_test_support::chain::append_next_block(&self.copies[0], outputs, spends, ts(index))
                .unwrap();
        for copy in &self.copies[1..] {
            copy.append_block(&block, &contents, ts(index)).unwrap();
        }
        index
    }
}

/// The deployment's quoting key and the policy every fog ledger enclave is checked with.
struct Trust {
    provider: SimProvider,
    verifier: Verifier,
}

impl Trust {
    fn new() -> Self {
        let identity = fog_identity(FogEnclave::Ledger);
        let provider = SimProvider::generate(&mut ChaCha20Rng::seed_from_u64(7), identity);
        let verifier = Verifier::new(
            provider.trust_anchor(),
            Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
        );
        Self { provider, verifier }
    }

    /// A fog ledger enclave (a store) that ledger routers of this deployment may ask, as
    /// fogd loads it.
    fn store_enclave(&self) -> SharedEnclave {
        LedgerBoundary::simulated(LedgerConfig {
            key_image_capacity: 1 << 10,
            routers: Some(self.peers()),
            ..LedgerConfig::default()
        })
        .unwrap()
    }

    /// A ledger router enclave asking the stores of this deployment.
    fn router_enclave(&self) -> SharedEnclave {
        LedgerRouterBoundary::simulated(LedgerRouterConfig::new(self.peers())).unwrap()
    }

    /// A ledger router enclave holding at most `open` checks at once.
    fn small_router_enclave(&self, open: usize) -> SharedEnclave {
        LedgerRouterBoundary::simulated(LedgerRouterConfig {
            max_open_checks: open,
            ..LedgerRouterConfig::new(self.peers())
        })
        .unwrap()
    }

    /// The peers of a router–store channel, as fogd loads both ends.
    fn peers(&self) -> PeerLinks {
        PeerLinks::new(
            self.verifier.clone(),
            fog_ledger_server::STORE_SESSION_LIMITS,
        )
    }

    /// Opens `server`'s store to the routers: evidence bound to its router channel key.
    fn open_to_routers(&self, server: &LedgerServer) {
        let key = server.router_channel_key().unwrap();
        server
            .set_router_evidence(BoundEvidence::bind(&self.provider, &key, None).unwrap())
            .unwrap();
    }
}

fn config() -> LedgerServerConfig {
    LedgerServerConfig {
        poll_interval: Duration::from_millis(10),
        ..LedgerServerConfig::default()
    }
}

/// A service running on 127.0.0.1 until stopped.
struct Service {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Service {
    /// Serves `server` (following its ledger DB) with `prefix`, health checked every 50 ms.
    async fn start(server: Arc<LedgerServer>, prefix: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut spec = fog_host::Serve::new(prefix, listener);
        spec.health_interval = Duration::from_millis(50);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            fog_ledger_server::run_with(server, spec, Vec::new(), async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            url,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

/// A key-image store of `range` over `ledger`, open to ledger routers.
async fn store(trust: &Trust, ledger: LedgerDb, range: (u64, u64)) -> (Arc<LedgerServer>, Service) {
    let config = LedgerServerConfig {
        key_image_blocks: BlockRange::new(range.0, range.1),
        ..config()
    };
    let server = Arc::new(
        LedgerServer::new(ledger, trust.store_enclave(), &trust.provider, config).unwrap(),
    );
    trust.open_to_routers(&server);
    let service = Service::start(Arc::clone(&server), fog_ledger_server::metrics::PREFIX).await;
    (server, service)
}

/// The router's admin API on 127.0.0.1 (loopback access).
async fn admin(server: &Arc<LedgerServer>) -> (String, tokio::task::JoinHandle<()>) {
    let router = server.router().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let access = fog_host::admin::AdminAccess::for_address(addr, None).unwrap();
    let service = fog_router::RouterAdmin::new(router.stores().clone(), router.probe_hook())
        .into_server(access);
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(fog_host::incoming(listener))
            .await
            .unwrap();
    });
    (format!("http://{addr}"), task)
}

async fn health(url: &str) -> ServingStatus {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status()
}

async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    for _ in 0..500 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never: {what}");
}

/// A client of the router: its session and its key-image API.
struct Client {
    url: String,
    key_images: FogKeyImageApiClient<Transport>,
    channel: Channel,
}

impl Client {
    async fn connect(url: &str, verifier: &Verifier) -> Self {
        let mut key_images = FogKeyImageApiClient::connect(url.to_string())
            .await
            .unwrap();
        let (hs, hello) = ClientHandshake::start(verifier.clone()).unwrap();
        let answer = key_images
            .auth(AuthMessage { data: hello })
            .await
            .unwrap()
            .into_inner();
        let channel = hs
            .finish(&answer.data, UnixSeconds::now(), SessionLimits::default())
            .unwrap();
        Self {
            url: url.to_string(),
            key_images,
            channel,
        }
    }

    async fn check(&mut self, key_images: &[KeyImage]) -> CheckKeyImagesResponse {
        let request = CheckKeyImagesRequest {
            queries: key_images
                .iter()
                .map(|k| KeyImageQuery {
                    key_image: Some(WireKeyImage {
                        data: k.as_bytes().to_vec(),
                    }),
                    start_block: 0,
                })
                .collect(),
        }
        .encode_to_vec();
        let frame = self
            .channel
            .seal(&[], &request, UnixSeconds::now())
            .unwrap();
        let answer = self
            .key_images
            .check_key_images(frame)
            .await
            .unwrap()
            .into_inner();
        let plain = self.channel.open(&answer, UnixSeconds::now()).unwrap();
        let r = CheckKeyImagesResponse::decode(plain.as_slice()).unwrap();
        assert_eq!(
            r.results.len(),
            key_images.len(),
            "one result per key image"
        );
        for (result, asked) in r.results.iter().zip(key_images) {
            assert_eq!(
                result.key_image.as_ref().unwrap().data,
                asked.as_bytes(),
                "results in request order"
            );
        }
        r
    }

    /// Waits until a check answers as of `num_blocks`.
    async fn until_blocks(&mut self, num_blocks: u64, probe: &KeyImage) -> CheckKeyImagesResponse {
        for _ in 0..500 {
            let r = self.check(std::slice::from_ref(probe)).await;
            if r.num_blocks == num_blocks {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the router never answered as of {num_blocks} blocks");
    }
}

fn spent_at(r: &CheckKeyImagesResponse, i: usize) -> (u32, u64, u64) {
    let x = &r.results[i];
    (x.key_image_result_code, x.spent_at, x.timestamp)
}

async fn stores_of(admin: &str) -> StoresResponse {
    RouterAdminApiClient::connect(admin.to_string())
        .await
        .unwrap()
        .get_stores(GetStoresRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_images_checked_through_the_router_over_three_stores() {
    let trust = Trust::new();
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    // Blocks 0..8; block b >= 1 spends spent[b - 1].
    let spent: Vec<KeyImage> = (0..7).map(|_| key_image(&mut rng)).collect();
    let later = key_image(&mut rng);
    let never = key_image(&mut rng);
    let mut chain = Chain::new(4, 12);
    chain.grow(vec![]);
    for k in &spent {
        chain.grow(vec![*k]);
    }

    // The router, with its own ledger copy, and no store yet: not serving.
    let router_server = Arc::new(
        LedgerServer::new_router(
            chain.copies[3].clone(),
            trust.router_enclave(),
            &trust.provider,
            config(),
            StoresConfig {
                timeout: Duration::from_secs(3),
                ..StoresConfig::default()
            },
        )
        .unwrap(),
    );
    let routing = Arc::clone(router_server.router().unwrap());
    let router = Service::start(Arc::clone(&router_server), router::PREFIX).await;
    let (admin_url, admin_task) = admin(&router_server).await;
    let probes = routing.spawn_probes(Duration::from_millis(50));

    let mut stores = Vec::new();
    for (i, range) in RANGES.iter().enumerate() {
        stores.push(Some(store(&trust, chain.copies[i].clone(), *range).await));
    }
    // The later stores first (as `--store`): still no store from block 0.
    for s in &stores[1..] {
        routing.stores().add(&s.as_ref().unwrap().1.url).unwrap();
    }
    eventually("both later stores answer", || async {
        stores_of(&admin_url).await.stores.iter().all(|s| s.up)
    })
    .await;
    assert_eq!(health(&router.url).await, ServingStatus::NotServing);
    let mut client = Client::connect(&router.url, &trust.verifier).await;
    // Nothing vouched for: every key image not spent in the blocks below 0.
    let r = client.check(&spent).await;
    assert_eq!(r.num_blocks, 0);
    assert!(r
        .results
        .iter()
        .all(|x| x.key_image_result_code == NOT_SPENT));
    let text = fog_host::encode(
        router::PREFIX,
        &fog_ledger_server::metrics::observation(&router_server).metrics,
    );
    assert!(text.contains("fog_ledger_router_stores 2\n"), "{text}");
    assert!(
        text.contains("fog_ledger_router_cover_blocks 0\n"),
        "{text}"
    );

    // The first store, added at run time through the admin API: the router serves.
    let first = stores[0].as_ref().unwrap().1.url.clone();
    let added = RouterAdminApiClient::connect(admin_url.clone())
        .await
        .unwrap()
        .add_store(AddStoreRequest { uri: first.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.stores.len(), 3);
    eventually("the router is SERVING", || async {
        health(&router.url).await == ServingStatus::Serving
    })
    .await;
    let listed = stores_of(&admin_url).await;
    assert_eq!(listed.cover, 8, "{listed:?}");
    for (s, range) in listed.stores.iter().zip([RANGES[1], RANGES[2], RANGES[0]]) {
        assert!(s.up, "{s:?}");
        assert_eq!((s.range_start, s.range_end), range);
    }

    // A batch across all shards: each key image answered once, in order, at its block.
    let mut batch = spent.clone();
    batch.insert(3, never);
    batch.push(later);
    let r = client.until_blocks(8, &never).await;
    assert_eq!(r.results[0].key_image_result_code, NOT_SPENT);
    let r = client.check(&batch).await;
    assert_eq!(r.num_blocks, 8);
    assert_eq!(r.global_txo_count, 24);
    assert_eq!(r.latest_block_version, 3);
    for (i, k) in batch.iter().enumerate() {
        match spent.iter().position(|s| s == k) {
            Some(p) => {
                let block = p as u64 + 1;
                assert_eq!(spent_at(&r, i), (SPENT, block, ts(block)), "key image {i}");
            }
            None => assert_eq!(spent_at(&r, i), (NOT_SPENT, u64::MAX, u64::MAX)),
        }
    }

    // A block lands: before, its key image is not spent as of 8 blocks; after, spent at 8.
    let r = client.check(&[later]).await;
    assert_eq!((r.num_blocks, spent_at(&r, 0).0), (8, NOT_SPENT));
    assert_eq!(chain.grow(vec![later]), 8);
    let r = client.until_blocks(9, &later).await;
    assert_eq!(spent_at(&r, 0), (SPENT, 8, ts(8)));
    assert_eq!(r.global_txo_count, 27);

    // The router's own ledger answers GetBlocks, GetBlockIds and GetOutputs.
    let mut blocks = FogBlockApiClient::connect(router.url.clone())
        .await
        .unwrap();
    let got = blocks
        .get_blocks(BlockRequest {
            ranges: vec![BlockRange::new(7, 20)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.num_blocks, 9);
    let indices: Vec<u64> = got.blocks.iter().map(|b| b.index).collect();
    assert_eq!(indices, [7, 8]);
    assert_eq!(
        got.blocks[1].key_images,
        vec![WireKeyImage {
            data: later.as_bytes().to_vec()
        }]
    );
    let frame = client
        .channel
        .seal(
            BLOCK_IDS_AAD,
            &BlockIdsRequest { indices: vec![8] }.encode_to_vec(),
            UnixSeconds::now(),
        )
        .unwrap();
    let answer = client
        .key_images
        .get_block_ids(frame)
        .await
        .unwrap()
        .into_inner();
    let ids = BlockIdsResponse::decode(
        client
            .channel
            .open(&answer, UnixSeconds::now())
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    assert_eq!(ids.num_blocks, 9);
    assert_eq!(
        ids.ids[0].data,
        chain.copies[3].get_block(8).unwrap().unwrap().id.to_vec()
    );
    let mut merkle = FogMerkleProofApiClient::connect(client.url.clone())
        .await
        .unwrap()
        .max_decoding_message_size(16 << 20);
    let request = GetOutputsRequest {
        indices: vec![0, 13, 26, 27],
        merkle_root_block: 0,
    };
    let frame = client
        .channel
        .seal(&[], &request.encode_to_vec(), UnixSeconds::now())
        .unwrap();
    let answer = merkle.get_outputs(frame).await.unwrap().into_inner();
    let outputs = GetOutputsResponse::decode(
        client
            .channel
            .open(&answer, UnixSeconds::now())
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    assert_eq!((outputs.num_blocks, outputs.global_txo_count), (9, 27));
    let root = chain.copies[3].root_element().unwrap();
    for r in &outputs.results[..3] {
        assert_eq!(r.result_code, OutputResultCode::Exists as u32);
        let tx_out = TxOut::try_from_wire(r.output.as_ref().unwrap()).unwrap();
        let proof = TxOutMembershipProof::try_from_wire(r.proof.as_ref().unwrap()).unwrap();
        verify_membership_proof(&tx_out, &proof, &root.hash).unwrap();
    }
    assert_eq!(
        outputs.results[3].result_code,
        OutputResultCode::DoesNotExist as u32
    );

    // The middle store stops: the answers vouch for blocks 0..3 only, and hide the spends
    // past them.
    stores[1].take().unwrap().1.stop().await;
    let r = client.until_blocks(3, &never).await;
    assert_eq!(r.global_txo_count, 9);
    let r = client.check(&batch).await;
    assert_eq!(r.num_blocks, 3);
    for (i, k) in batch.iter().enumerate() {
        match spent.iter().position(|s| s == k) {
            Some(p) if p < 2 => {
                let block = p as u64 + 1;
                assert_eq!(spent_at(&r, i), (SPENT, block, ts(block)), "key image {i}");
            }
            _ => assert_eq!(spent_at(&r, i), (NOT_SPENT, u64::MAX, u64::MAX)),
        }
    }
    let listed = stores_of(&admin_url).await;
    assert_eq!(listed.cover, 3);
    assert!(!listed.stores[0].up && !listed.stores[0].last_error.is_empty());
    assert!(listed.stores[1].up && listed.stores[2].up);
    // Still serving: the store from block 0 answers.
    assert_eq!(health(&router.url).await, ServingStatus::Serving);

    let text = fog_host::encode(
        router::PREFIX,
        &fog_ledger_server::metrics::observation(&router_server).metrics,
    );
    for line in [
        "fog_ledger_router_stores 3\n",
        "fog_ledger_router_cover_blocks 3\n",
        "fog_ledger_router_key_image_requests_total ",
        "fog_ledger_router_routed_checks_total ",
        "fog_ledger_router_store_up{store=",
        "fog_ledger_router_store_blocks 9\n",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let store0 = &stores[0].as_ref().unwrap().0;
    let text = fog_ledger_server::metrics::metrics_text(store0);
    assert!(text.contains("fog_ledger_router_checks_total "), "{text}");
    assert!(
        text.contains("fog_ledger_key_image_range_end_block 3\n"),
        "{text}"
    );

    probes.abort();
    admin_task.abort();
    router.stop().await;
    for s in stores.into_iter().flatten() {
        s.1.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_refuses_what_is_not_a_ledger_router() {
    let trust = Trust::new();
    let mut chain = Chain::new(2, 21);
    chain.grow(vec![]);
    // A store with a router link, and one without.
    let (_, linked) = store(&trust, chain.copies[0].clone(), (0, 5)).await;
    let unlinked_server = Arc::new(
        LedgerServer::new(
            chain.copies[1].clone(),
            trust.store_enclave(),
            &trust.provider,
            config(),
        )
        .unwrap(),
    );
    let unlinked = Service::start(unlinked_server, fog_ledger_server::metrics::PREFIX).await;

    let mut client = StoreApiClient::connect(linked.url.clone()).await.unwrap();
    let status = client
        .auth(AuthMessage {
            data: vec![1, 2, 3],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let stranger = NonceMessage {
        aad: vec![],
        channel_id: vec![7; 32],
        data: vec![0; 64],
        nonce: 0,
    };
    let status = client.query(stranger.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    let mut client = StoreApiClient::connect(unlinked.url.clone()).await.unwrap();
    let status = client
        .auth(AuthMessage {
            data: vec![1, 2, 3],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = client.query(stranger).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // A store of a later range answers clients that ask it directly as of block 0.
    let mut chain = Chain::new(1, 22);
    chain.grow(vec![]);
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    for _ in 0..3 {
        chain.grow(vec![key_image(&mut rng)]);
    }
    let (server, later) = store(&trust, chain.copies[0].clone(), (2, u64::MAX)).await;
    eventually("the store catches up", || async {
        server.status().unwrap().blocks_behind() == 0
    })
    .await;
    let mut c = Client::connect(&later.url, &trust.verifier).await;
    let r = c.check(&[KeyImage([5; 32])]).await;
    assert_eq!(r.num_blocks, 0);
    assert!(LedgerServer::new(
        chain.copies[0].clone(),
        trust.store_enclave(),
        &trust.provider,
        LedgerServerConfig {
            key_image_blocks: BlockRange::new(4, 4),
            ..config()
        }
    )
    .is_err());

    linked.stop().await;
    unlinked.stop().await;
    later.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_whose_table_of_checks_is_full_is_unavailable() {
    let trust = Trust::new();
    let mut chain = Chain::new(1, 31);
    chain.grow(vec![]);
    let router_server = Arc::new(
        LedgerServer::new_router(
            chain.copies[0].clone(),
            trust.small_router_enclave(2),
            &trust.provider,
            config(),
            StoresConfig::default(),
        )
        .unwrap(),
    );
    let routing = Arc::clone(router_server.router().unwrap());
    let router = Service::start(Arc::clone(&router_server), router::PREFIX).await;
    let mut client = Client::connect(&router.url, &trust.verifier).await;
    // No store: a check answers as of no block.
    assert_eq!(client.check(&[KeyImage([5; 32])]).await.num_blocks, 0);

    // Two checks held open (requests in flight elsewhere): the next client's is refused
    // UNAVAILABLE, a retry, not an internal error.
    let held = [
        routing.enclave().probe().unwrap(),
        routing.enclave().probe().unwrap(),
    ];
    let request = CheckKeyImagesRequest::default().encode_to_vec();
    let frame = client
        .channel
        .seal(&[], &request, UnixSeconds::now())
        .unwrap();
    let status = client.key_images.check_key_images(frame).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let text = fog_host::encode(
        router::PREFIX,
        &fog_ledger_server::metrics::observation(&router_server).metrics,
    );
    assert!(
        text.contains("fog_ledger_router_request_errors_total{code=\"unavailable\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("fog_ledger_router_request_errors_total{code=\"internal\"} 0\n"),
        "{text}"
    );

    // The held checks dropped (their requests cancelled): their places are free again.
    drop(held);
    assert_eq!(routing.enclave().open_checks(), Ok(0));
    assert_eq!(client.check(&[KeyImage([5; 32])]).await.num_blocks, 0);
    router.stop().await;
}

//! Compiles the .proto files with protox (a pure-Rust protobuf compiler, so no `protoc` is
//! needed) and generates tonic stubs. MobileCoin's message packages map to Fog's own wire
//! types, whose encodings the test vectors check byte for byte.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/external.proto",
        "proto/blockchain.proto",
        "proto/fog_node.proto",
        "proto/attest.proto",
        "proto/report.proto",
        "proto/fog_ingest.proto",
        "proto/kex_rng.proto",
        "proto/fog_common.proto",
        "proto/view.proto",
        "proto/ledger.proto",
        "proto/router.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    // The stubs need tonic (feature `grpc`); without it only the prost messages are made.
    let stubs = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    tonic_prost_build::configure()
        .build_client(stubs)
        .build_server(stubs)
        .extern_path(
            ".external.PublicAddress",
            "::fog_account::wire::PublicAddress",
        )
        .extern_path(
            ".external.CompressedRistretto",
            "::fog_account::wire::CompressedRistretto",
        )
        .extern_path(
            ".external.RistrettoPrivate",
            "::fog_account::wire::RistrettoPrivate",
        )
        .extern_path(".external", "::fog_transaction::wire")
        .extern_path(".blockchain.BlockID", "::fog_transaction::wire::Bytes32")
        .extern_path(
            ".blockchain.BlockContentsHash",
            "::fog_transaction::wire::Bytes32",
        )
        .extern_path(".blockchain", "::fog_transaction::wire")
        .extern_path(".attest", "::fog_attest::wire")
        .extern_path(".report.ReportRequest", "::fog_attest::wire::ReportRequest")
        .extern_path(
            ".report.ReportResponse",
            "::fog_attest::wire::ReportResponse",
        )
        .extern_path(".report.Report", "::fog_attest::wire::Report")
        .extern_path(".fog_common", "::fog_types::common")
        .extern_path(".fog_view", "::fog_types::view")
        .extern_path(".fog_ledger", "::fog_types::ledger")
        .extern_path(
            ".kex_rng.KexRngPubkey",
            "::fog_crypto::kex_rng::KexRngPubkey",
        )
        .compile_fds(fds)?;
    Ok(())
}

//! The attest workload: what opening an attested session costs a client, by evidence kind.
//!
//! - `sim-handshake`: a whole NX handshake (the client's hello, the enclave's answer with its
//!   simulated evidence, the client's finish, which verifies it): one session open.
//! - `sim-accept`: the enclave's side of it alone (`EnclaveResponder::accept` on a client's
//!   hello made before the timing): what a view or fog ledger enclave spends per session, so
//!   `per_cpu_second` is the sessions one core of the service opens a second. The client's
//!   side is `sim-handshake` less this.
//! - `sgx-verify`, `tdx-verify`, `snp-verify`: the verifier on the real published samples
//!   (`crates/fog-attest/tests/data/`) with their collateral, each at a time inside its
//!   collateral's validity: what a client adds to a session open when the enclave presents
//!   hardware evidence (the quote, QE report and collateral signatures up to Intel's root; the
//!   ARK → ASK → VCEK chain and the report signature).
//!
//! Each round runs every operation `--ops` times, in turn (interleaved rounds), and reports
//! the CPU time per operation on this thread (median of rounds) and opens per CPU-second.

use fog_attest::platform::{dcap, snp, Claims};
use fog_attest::wire::SnpCollateral;
use fog_attest::{
    fog_identity, ClientHandshake, Collateral, EnclaveResponder, Evidence, EvidenceKind,
    FogEnclave, IdentityRule, Policy, QuoteEvidence, SessionLimits, SimProvider, TcbStatus,
    TrustAnchor, UnixSeconds, Verifier,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::json;
use std::{cell::RefCell, rc::Rc};

use crate::{get, round2, thread_cpu_ns, Args};

const JUNE_2025: UnixSeconds = UnixSeconds(1_750_377_600);
const JAN_2025: UnixSeconds = UnixSeconds(1_735_689_600);

/// One operation to time: it returns whether it succeeded (a failure stops the benchmark).
type Op = Box<dyn FnMut() -> bool>;

fn sample(kind: EvidenceKind) -> Result<(QuoteEvidence, UnixSeconds), String> {
    let dcap = |json: &[u8]| {
        dcap::collateral_from_json(json)
            .map(|c| Collateral::Dcap(Box::new(c)))
            .map_err(|e| e.to_string())
    };
    Ok(match kind {
        EvidenceKind::SgxDcap => (
            QuoteEvidence {
                kind,
                quote: include_bytes!("../../fog-attest/tests/data/sgx_quote").to_vec(),
                collateral: dcap(include_bytes!(
                    "../../fog-attest/tests/data/sgx_quote_collateral.json"
                ))?,
            },
            JUNE_2025,
        ),
        EvidenceKind::TdxDcap => (
            QuoteEvidence {
                kind,
                quote: include_bytes!("../../fog-attest/tests/data/tdx_quote").to_vec(),
                collateral: dcap(include_bytes!(
                    "../../fog-attest/tests/data/tdx_quote_collateral.json"
                ))?,
            },
            JUNE_2025,
        ),
        _ => (
            QuoteEvidence {
                kind: EvidenceKind::SevSnp,
                quote: hex::decode(
                    include_str!("../../fog-attest/tests/data/snp_report_milan.hex").trim(),
                )
                .map_err(|e| e.to_string())?,
                collateral: Collateral::Snp(SnpCollateral {
                    vcek: include_bytes!("../../fog-attest/tests/data/snp_vcek_milan.der").to_vec(),
                }),
            },
            JAN_2025,
        ),
    })
}

/// A verifier that accepts exactly this sample (its own measurement, its TCB status).
fn verify_op(kind: EvidenceKind) -> Result<Op, String> {
    let (q, now) = sample(kind)?;
    let claims = match &q.collateral {
        Collateral::Dcap(c) => {
            dcap::verify(q.kind, &q.quote, c, dcap::INTEL_SGX_ROOT_CA_DER, now.0)
                .map_err(|e| e.to_string())?
                .claims
        }
        Collateral::Snp(c) => {
            snp::verify(&q.quote, c, &snp::amd_roots(), None, now.0)
                .map_err(|e| e.to_string())?
                .claims
        }
    };
    let rule = match claims {
        Claims::Sgx(id) => IdentityRule::SgxMrEnclave(id.measurement),
        Claims::Tdx { mrtd, rtmrs, .. } => IdentityRule::Tdx {
            mrtd,
            rtmrs: rtmrs.map(Some),
        },
        Claims::Snp { measurement, .. } => IdentityRule::Snp { measurement },
    };
    let mut policy = Policy::new(vec![rule], 3600);
    policy.accepted_tcb = vec![TcbStatus::ConfigurationAndSwHardeningNeeded];
    let verifier = Verifier::with_anchors(vec![TrustAnchor::intel(), TrustAnchor::amd()], policy);
    let evidence = Evidence::Quote(q);
    let expected = evidence.report_data().map_err(|e| e.to_string())?;
    Ok(Box::new(move || {
        verifier.verify(&evidence, &expected, now).is_ok()
    }))
}

fn handshake_op(seed: u64) -> Result<Op, String> {
    let identity = fog_identity(FogEnclave::View);
    let provider = SimProvider::generate(&mut ChaCha20Rng::seed_from_u64(seed), identity);
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    let responder = EnclaveResponder::from_provider(&provider).map_err(|e| e.to_string())?;
    let limits = SessionLimits::default();
    Ok(Box::new(move || {
        let now = UnixSeconds::now();
        let Ok((hs, hello)) = ClientHandshake::start(verifier.clone()) else {
            return false;
        };
        let Ok((_enclave_side, answer)) = responder.accept(&hello, now, limits) else {
            return false;
        };
        hs.finish(&answer, now, limits).is_ok()
    }))
}

/// The enclave's answer to a hello, on hellos made by `prepare` before the timing.
fn accept_op(seed: u64) -> Result<(Prep, Op), String> {
    let identity = fog_identity(FogEnclave::View);
    let provider = SimProvider::generate(&mut ChaCha20Rng::seed_from_u64(seed), identity);
    let verifier = Verifier::new(
        provider.trust_anchor(),
        Policy::new(vec![IdentityRule::Measurement(identity.measurement)], 3600),
    );
    let responder = EnclaveResponder::from_provider(&provider).map_err(|e| e.to_string())?;
    let limits = SessionLimits::default();
    let hellos: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let prepare = {
        let hellos = Rc::clone(&hellos);
        Box::new(move |n: usize| {
            let mut h = hellos.borrow_mut();
            h.clear();
            for _ in 0..n {
                if let Ok((_, hello)) = ClientHandshake::start(verifier.clone()) {
                    h.push(hello);
                }
            }
        })
    };
    let op = Box::new(move || {
        let Some(hello) = hellos.borrow_mut().pop() else {
            return false;
        };
        responder.accept(&hello, UnixSeconds::now(), limits).is_ok()
    });
    Ok((prepare, op))
}

/// Work before a round's timing (given the round's operation count).
type Prep = Box<dyn FnMut(usize)>;

/// `fog-bench attest [--ops N] [--rounds R] [--seed S]`.
pub fn attest(args: &Args) -> Result<(), String> {
    let ops: usize = get(args, "ops", Some(200))?;
    let rounds: usize = get(args, "rounds", Some(3))?;
    let seed: u64 = get(args, "seed", Some(1))?;
    if ops == 0 || rounds == 0 {
        return Err("--ops and --rounds must be positive".into());
    }
    let (accept_prep, accept) = accept_op(seed)?;
    let none = || -> Option<Prep> { None };
    let mut workloads: Vec<(&str, Option<Prep>, Op)> = vec![
        ("sim-handshake", none(), handshake_op(seed)?),
        ("sim-accept", Some(accept_prep), accept),
        ("sgx-verify", none(), verify_op(EvidenceKind::SgxDcap)?),
        ("tdx-verify", none(), verify_op(EvidenceKind::TdxDcap)?),
        ("snp-verify", none(), verify_op(EvidenceKind::SevSnp)?),
    ];
    let mut per_round: Vec<Vec<f64>> = vec![Vec::new(); workloads.len()];
    for round in 0..rounds {
        for (i, (name, prep, op)) in workloads.iter_mut().enumerate() {
            if let Some(prep) = prep {
                prep(ops);
            }
            let start = thread_cpu_ns().ok_or("no per-thread CPU clock")?;
            for _ in 0..ops {
                if !op() {
                    return Err(format!("{name} failed"));
                }
            }
            let end = thread_cpu_ns().ok_or("no per-thread CPU clock")?;
            let us = (end - start) as f64 / 1e3 / ops as f64;
            eprintln!("round {round}: {name} {us:.1} µs CPU per operation");
            per_round[i].push(us);
        }
    }
    let results: Vec<_> = workloads
        .iter()
        .zip(per_round)
        .map(|((name, _, _), mut us)| {
            us.sort_by(f64::total_cmp);
            let median = us[us.len() / 2];
            json!({
                "operation": name,
                "cpu_us_per_op_median": round2(median),
                "cpu_us_per_op_rounds": us.iter().map(|u| round2(*u)).collect::<Vec<_>>(),
                "per_cpu_second": round2(1e6 / median),
            })
        })
        .collect();
    crate::emit(json!({
        "workload": "attest",
        "ops_per_round": ops,
        "rounds": rounds,
        "results": results,
    }));
    Ok(())
}

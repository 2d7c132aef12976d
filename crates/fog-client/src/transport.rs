//! The boundary between the client's logic and the network: one method per remote call.
//!
//! [`crate::grpc::GrpcTransport`] implements it over tonic with attested sessions; tests
//! implement it with scripted answers. Methods take `&mut self` (a transport holds sessions)
//! and return the decoded answer or a [`ClientError`] that names the service. A transport
//! with attested sessions implements each attested method (view queries, key images,
//! outputs, block ids) as one [`crate::session::attested_call`].

use std::future::Future;

use fog_api::fog_node::{LedgerInfo, SubmitTxResponse};
use fog_attest::wire::ReportResponse;
use fog_types::{
    ledger::{
        BlockIdsRequest, BlockIdsResponse, BlockRequest, BlockResponse, CheckKeyImagesRequest,
        CheckKeyImagesResponse, GetOutputsRequest, GetOutputsResponse,
    },
    view::{QueryRequest, QueryRequestAad, QueryResponse},
};

use crate::{
    error::Result,
    sync::{Request, Response},
};

/// The remote calls a fog client makes.
pub trait Transport: Send {
    /// `FogViewAPI.Query` over the view session: `aad` in clear, `request` encrypted.
    fn view_query(
        &mut self,
        aad: QueryRequestAad,
        request: QueryRequest,
    ) -> impl Future<Output = Result<QueryResponse>> + Send;

    /// `FogKeyImageAPI.CheckKeyImages` over the fog ledger session.
    fn check_key_images(
        &mut self,
        request: CheckKeyImagesRequest,
    ) -> impl Future<Output = Result<CheckKeyImagesResponse>> + Send;

    /// `FogMerkleProofAPI.GetOutputs` over the fog ledger session.
    fn get_outputs(
        &mut self,
        request: GetOutputsRequest,
    ) -> impl Future<Output = Result<GetOutputsResponse>> + Send;

    /// `FogKeyImageAPI.GetBlockIds` over the fog ledger session (Fog's own).
    fn block_ids(
        &mut self,
        request: BlockIdsRequest,
    ) -> impl Future<Output = Result<BlockIdsResponse>> + Send;

    /// `FogBlockAPI.GetBlocks` (untrusted, unattested).
    fn get_blocks(
        &mut self,
        request: BlockRequest,
    ) -> impl Future<Output = Result<BlockResponse>> + Send;

    /// `ReportAPI.GetReports` of the report server named by a fog report URL.
    fn get_reports(
        &mut self,
        fog_report_url: &str,
    ) -> impl Future<Output = Result<ReportResponse>> + Send;

    /// `LedgerNode.SubmitTx`.
    fn submit_tx(
        &mut self,
        tx: fog_transaction::wire::Tx,
    ) -> impl Future<Output = Result<SubmitTxResponse>> + Send;

    /// `LedgerNode.GetLedgerInfo`.
    fn ledger_info(&mut self) -> impl Future<Output = Result<LedgerInfo>> + Send;
}

/// Sends one request of the sync core and wraps its answer.
pub async fn call<T: Transport>(transport: &mut T, request: Request) -> Result<Response> {
    Ok(match request {
        Request::ViewQuery { aad, request } => {
            Response::ViewQuery(transport.view_query(aad, request).await?)
        }
        Request::GetBlocks(r) => Response::GetBlocks(transport.get_blocks(r).await?),
        Request::BlockIds(r) => Response::BlockIds(transport.block_ids(r).await?),
        Request::CheckKeyImages(r) => {
            Response::CheckKeyImages(transport.check_key_images(r).await?)
        }
    })
}

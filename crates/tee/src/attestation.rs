//! What the node serves at `GET /node/attestation`.
//!
//! The response body is an [`EvidenceBundle`] (`{platform, evidence,
//! identity_public_key, measurement, endorsements, insecure, nonce, version}`),
//! so `txnchain attest verify --file` reads a saved response as is.
//! Without `?nonce=` the node returns the evidence it made at start-up; with
//! `?nonce=<hex>` it asks the platform for a fresh report bound to that nonce,
//! which costs a round trip to the secure processor: the node's HTTP layer rate-limits those
//! requests (per client, under a global cap) before calling [`NodeAttestation::fresh`].

use std::sync::Arc;

use crate::evidence::EvidenceBundle;
use crate::identity::{NodeIdentity, parse_nonce_hex};
use crate::platform::Platform;
use crate::verify::measurement_of;
use crate::{MAX_NONCE_LEN, TeeError};

/// The JSON body of `GET /node/attestation`.
pub type AttestationResponse = EvidenceBundle;

/// Produce an attestation response: fresh evidence from `platform` binding
/// `identity` (and `nonce`, if given).
pub fn attestation_response(
    platform: &dyn Platform,
    identity: &NodeIdentity,
    nonce: Option<&[u8]>,
) -> Result<AttestationResponse, TeeError> {
    if let Some(n) = nonce
        && (n.is_empty() || n.len() > MAX_NONCE_LEN)
    {
        return Err(TeeError::Nonce(format!(
            "{} bytes; 1 to {MAX_NONCE_LEN} allowed",
            n.len()
        )));
    }
    let report_data = identity.report_data(nonce);
    let produced = platform.attest(&report_data)?;
    let kind = platform.kind();
    Ok(EvidenceBundle {
        version: 1,
        platform: kind,
        measurement: measurement_of(kind, &produced.evidence),
        evidence: produced.evidence,
        identity_public_key: Some(identity.public_key_spki_der().to_vec()),
        nonce: nonce.map(<[u8]>::to_vec),
        endorsements: produced.endorsements,
        insecure: platform.is_insecure(),
        service_identity: None,
        service_statement: None,
    })
}

/// The node's attestation state: its platform, identity and the start-up evidence.
#[derive(Debug)]
pub struct NodeAttestation {
    platform: Arc<dyn Platform>,
    identity: Arc<NodeIdentity>,
    service: Option<(String, Vec<u8>)>,
    startup: AttestationResponse,
}

impl NodeAttestation {
    /// Make the start-up evidence (no nonce) and keep it.
    pub fn new(platform: Arc<dyn Platform>, identity: Arc<NodeIdentity>) -> Result<Self, TeeError> {
        let startup = attestation_response(platform.as_ref(), &identity, None)?;
        Ok(Self {
            platform,
            identity,
            service: None,
            startup,
        })
    }

    /// Carry the network's service identity in every response, with this node's statement
    /// over it (`service_identity`, `service_statement`).
    pub fn with_service_identity(mut self, service_identity: &[u8; 32]) -> Self {
        let statement = self
            .identity
            .sign(&crate::evidence::service_statement_message(
                service_identity,
            ));
        let service = (format!("0x{}", hex::encode(service_identity)), statement);
        self.startup.service_identity = Some(service.0.clone());
        self.startup.service_statement = Some(service.1.clone());
        self.service = Some(service);
        self
    }

    /// The node identity.
    pub fn identity(&self) -> &Arc<NodeIdentity> {
        &self.identity
    }

    /// The platform.
    pub fn platform(&self) -> &Arc<dyn Platform> {
        &self.platform
    }

    /// The start-up evidence.
    pub fn startup(&self) -> &AttestationResponse {
        &self.startup
    }

    /// `GET /node/attestation[?nonce=<hex>]`: the start-up evidence without a nonce, fresh
    /// evidence bound to the nonce with one ([`TeeError::Nonce`] for a malformed one).
    pub fn respond(&self, nonce_hex: Option<&str>) -> Result<AttestationResponse, TeeError> {
        match nonce_hex {
            None => Ok(self.startup.clone()),
            Some(text) => self.fresh(&parse_nonce_hex(text)?),
        }
    }

    /// Fresh evidence bound to `nonce` (a round trip to the secure processor: callers serving
    /// clients rate-limit it).
    pub fn fresh(&self, nonce: &[u8]) -> Result<AttestationResponse, TeeError> {
        let mut bundle = attestation_response(self.platform.as_ref(), &self.identity, Some(nonce))?;
        if let Some((identity, statement)) = &self.service {
            bundle.service_identity = Some(identity.clone());
            bundle.service_statement = Some(statement.clone());
        }
        Ok(bundle)
    }
}

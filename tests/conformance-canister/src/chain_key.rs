//! Management canister: threshold ECDSA and Schnorr, raw_rand.

use crate::types::{PublicKeyReply, RejectInfo};
use ic_cdk::update;
use ic_cdk_management_canister::{
    Bip341, EcdsaCurve, EcdsaKeyId, EcdsaPublicKeyArgs, SchnorrAlgorithm, SchnorrAux, SchnorrKeyId,
    SchnorrPublicKeyArgs, SignWithEcdsaArgs, SignWithSchnorrArgs,
};
use serde_bytes::ByteBuf;

fn to_paths(derivation_path: Vec<ByteBuf>) -> Vec<Vec<u8>> {
    derivation_path.into_iter().map(ByteBuf::into_vec).collect()
}

fn secp256k1_key(name: String) -> EcdsaKeyId {
    EcdsaKeyId {
        curve: EcdsaCurve::Secp256k1,
        name,
    }
}

/// This canister's ECDSA secp256k1 public key (SEC1 compressed) and chain code for the path.
#[update]
async fn ecdsa_public_key(
    key_name: String,
    derivation_path: Vec<ByteBuf>,
) -> Result<PublicKeyReply, RejectInfo> {
    let args = EcdsaPublicKeyArgs {
        canister_id: None,
        derivation_path: to_paths(derivation_path),
        key_id: secp256k1_key(key_name),
    };
    let result = ic_cdk_management_canister::ecdsa_public_key(&args).await?;
    Ok(PublicKeyReply {
        public_key: ByteBuf::from(result.public_key),
        chain_code: ByteBuf::from(result.chain_code),
    })
}

/// sign_with_ecdsa: a 64-byte (r, s) signature over the 32-byte `message_hash`.
#[update]
async fn ecdsa_sign(
    key_name: String,
    derivation_path: Vec<ByteBuf>,
    message_hash: ByteBuf,
) -> Result<ByteBuf, RejectInfo> {
    let args = SignWithEcdsaArgs {
        message_hash: message_hash.into_vec(),
        derivation_path: to_paths(derivation_path),
        key_id: secp256k1_key(key_name),
    };
    let result = ic_cdk_management_canister::sign_with_ecdsa(&args).await?;
    Ok(ByteBuf::from(result.signature))
}

#[update]
async fn schnorr_public_key(
    algorithm: SchnorrAlgorithm,
    key_name: String,
    derivation_path: Vec<ByteBuf>,
) -> Result<PublicKeyReply, RejectInfo> {
    let args = SchnorrPublicKeyArgs {
        canister_id: None,
        derivation_path: to_paths(derivation_path),
        key_id: SchnorrKeyId {
            algorithm,
            name: key_name,
        },
    };
    let result = ic_cdk_management_canister::schnorr_public_key(&args).await?;
    Ok(PublicKeyReply {
        public_key: ByteBuf::from(result.public_key),
        chain_code: ByteBuf::from(result.chain_code),
    })
}

/// sign_with_schnorr; with `taproot_merkle_root` (BIP-341 tweak, bip340secp256k1 only).
#[update]
async fn schnorr_sign(
    algorithm: SchnorrAlgorithm,
    key_name: String,
    derivation_path: Vec<ByteBuf>,
    message: ByteBuf,
    taproot_merkle_root: Option<ByteBuf>,
) -> Result<ByteBuf, RejectInfo> {
    let args = SignWithSchnorrArgs {
        message: message.into_vec(),
        derivation_path: to_paths(derivation_path),
        key_id: SchnorrKeyId {
            algorithm,
            name: key_name,
        },
        aux: taproot_merkle_root.map(|root| {
            SchnorrAux::Bip341(Bip341 {
                merkle_root_hash: root.into_vec(),
            })
        }),
    };
    let result = ic_cdk_management_canister::sign_with_schnorr(&args).await?;
    Ok(ByteBuf::from(result.signature))
}

/// 32 random bytes from the management canister.
#[update]
async fn raw_rand() -> Result<ByteBuf, RejectInfo> {
    Ok(ByteBuf::from(ic_cdk_management_canister::raw_rand().await?))
}

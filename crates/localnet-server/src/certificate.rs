//! The certified state tree: `/time`, the subnet, canisters and request
//! statuses, and certificates revealing parts of it signed by the root key.

use crate::cbor;
use crate::http::error_code_text;
use crate::shared::{lock, Shared};
use crate::tree::{self, Node};
use ciborium::value::Value;
use localnet::{IngressStatus, LocalNet, MessageId};

/// The canister range of localnet's one subnet: every principal of at least
/// one byte (the lowest is `[0x00]`, the highest 29 bytes of `0xff`), so
/// canisters created at any specified id belong to it.
const RANGE_START: [u8; 1] = [0x00];
const RANGE_END: [u8; 29] = [0xff; 29];

impl Shared {
    /// The state tree, with `/request_status/<requested>` in full and every
    /// other request status as its hash.
    fn state_tree(&self, net: &LocalNet, requested: Option<&[u8; 32]>) -> Node {
        let mut root = Node::sub();
        let mut time = Vec::new();
        leb128::write::unsigned(&mut time, net.time()).expect("writing to a Vec");
        root.insert("time", Node::Leaf(time));

        let ranges = cbor::encode_tagged(Value::Array(vec![Value::Array(vec![
            Value::Bytes(RANGE_START.to_vec()),
            Value::Bytes(RANGE_END.to_vec()),
        ])]));
        let subnet_label = self.subnet_id.as_slice().to_vec();
        root.insert("canister_ranges", Node::sub())
            .insert(subnet_label.clone(), Node::sub())
            .insert(RANGE_START.to_vec(), Node::Leaf(ranges.clone()));
        let subnet = root
            .insert("subnet", Node::sub())
            .insert(subnet_label, Node::sub());
        subnet.insert("public_key", Node::Leaf(self.root_key_der.clone()));
        subnet.insert("canister_ranges", Node::Leaf(ranges));
        subnet.insert("type", Node::Leaf(b"application".to_vec()));
        subnet
            .insert("node", Node::sub())
            .insert(self.node.id.as_slice().to_vec(), Node::sub())
            .insert("public_key", Node::Leaf(self.node.der.clone()));

        let canisters = root.insert("canister", Node::sub());
        for id in net.canister_ids() {
            let c = canisters.insert(id.as_slice().to_vec(), Node::sub());
            c.insert("certified_data", Node::Leaf(net.certified_data(id)));
            let controllers = net.controllers(id).unwrap_or_default();
            c.insert(
                "controllers",
                Node::Leaf(cbor::encode_tagged(Value::Array(
                    controllers
                        .iter()
                        .map(|p| Value::Bytes(p.as_slice().to_vec()))
                        .collect(),
                ))),
            );
            if let Some(hash) = net.module_hash(id) {
                c.insert("module_hash", Node::Leaf(hash.to_vec()));
                let metadata = net.canister_metadata(id);
                if !metadata.is_empty() {
                    let m = c.insert("metadata", Node::sub());
                    for (name, (_, data)) in metadata {
                        m.insert(name.into_bytes(), Node::Leaf(data));
                    }
                }
            }
        }

        let statuses = root.insert("request_status", Node::sub());
        let mut registry = lock(&self.registry);
        for (id, record) in registry.requests.iter_mut() {
            if Some(id) != requested {
                if let Some(digest) = record.final_digest {
                    // A completed status never changes: its hash is enough.
                    statuses.insert(id.to_vec(), Node::Opaque(digest));
                    continue;
                }
            }
            let (node, complete) = request_status_node(net, record.message);
            if complete {
                record.final_digest = Some(node.digest());
            }
            if Some(id) == requested {
                statuses.insert(id.to_vec(), node);
            } else {
                statuses.insert(id.to_vec(), Node::Opaque(node.digest()));
            }
        }
        root
    }

    /// A certificate revealing `paths` (and `/time`), signed by the root key.
    pub(crate) fn certify(
        &self,
        net: &LocalNet,
        paths: &[Vec<Vec<u8>>],
        request: Option<&[u8; 32]>,
    ) -> Vec<u8> {
        let tree = self.state_tree(net, request);
        let time = vec![b"time".to_vec()];
        let mut refs: Vec<&[Vec<u8>]> = paths.iter().map(Vec::as_slice).collect();
        refs.push(&time);
        net.root_key().certify(tree::witness(&tree, &refs))
    }
}

/// `/request_status/<id>`: `processing`, `replied` with `reply`, or `rejected`
/// with `reject_code`, `reject_message` and `error_code`; and whether it is final.
fn request_status_node(net: &LocalNet, message: MessageId) -> (Node, bool) {
    let mut node = Node::sub();
    match net.ingress_status(message) {
        IngressStatus::Processing => {
            node.insert("status", Node::Leaf(b"processing".to_vec()));
            return (node, false);
        }
        IngressStatus::Completed(Ok(reply)) => {
            node.insert("status", Node::Leaf(b"replied".to_vec()));
            node.insert("reply", Node::Leaf(reply));
        }
        IngressStatus::Completed(Err(reject)) => {
            let mut code = Vec::new();
            leb128::write::unsigned(&mut code, reject.reject_code as u64)
                .expect("writing to a Vec");
            node.insert("status", Node::Leaf(b"rejected".to_vec()));
            node.insert("reject_code", Node::Leaf(code));
            node.insert(
                "reject_message",
                Node::Leaf(reject.reject_message.clone().into_bytes()),
            );
            node.insert(
                "error_code",
                Node::Leaf(error_code_text(&reject).into_bytes()),
            );
        }
    }
    (node, true)
}

//! Starting and stopping the server: [`Server::start`] and its [`Handle`].

use crate::config::Config;
use crate::driver::drive;
use crate::routes::router;
use crate::shared::{NodeKey, Registry, Shared};
use candid::Principal;
use localnet::localnet_services::http_outcall::LiveClient;
use localnet::{LocalNet, OutcallMode};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, watch};

pub struct Server;

/// A running server. Dropping it stops the server (the net stays usable
/// through [`Handle::net`]).
pub struct Handle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Handle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The DER-encoded BLS root key that signs every certificate.
    pub fn root_key_der(&self) -> Vec<u8> {
        self.shared.root_key_der.clone()
    }

    /// The net, for in-process use (lock it briefly: requests wait meanwhile).
    pub fn net(&self) -> Arc<Mutex<LocalNet>> {
        self.shared.net.clone()
    }

    pub fn subnet_id(&self) -> Principal {
        self.shared.subnet_id
    }

    /// The principal of the node that signs query responses.
    pub fn node_id(&self) -> Principal {
        self.shared.node.id
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Server {
    /// Builds the net and serves it on `127.0.0.1:<port>` until the handle is
    /// dropped or shut down. Must be called within a Tokio runtime.
    pub async fn start(config: Config) -> std::io::Result<Handle> {
        let mut net_config = config.net.clone();
        // Live outcalls are performed by this server, outside the net's lock, so
        // a slow outcall does not stall other requests: the net holds them
        // (mock mode) and the background task answers them with the real response.
        let live = (net_config.outcalls == OutcallMode::Live).then_some(LiveClient {
            timeout: net_config.outcall_timeout,
            allow_plain_http: net_config.allow_plain_http,
        });
        net_config.outcalls = OutcallMode::Mock;
        let net = LocalNet::with_config(net_config);
        let node_key = ic_ed25519::PrivateKey::generate_from_seed(
            &[b"localnet node key".as_slice(), &config.net.seed].concat(),
        );
        let node_der = node_key.public_key().serialize_rfc8410_der();
        let node = NodeKey {
            id: Principal::self_authenticating(&node_der),
            der: node_der,
            key: node_key,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let (progress, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            subnet_id: net.subnet_id(),
            root_key_der: net.root_key_der(),
            net: Arc::new(Mutex::new(net)),
            registry: Mutex::new(Registry::default()),
            node,
            progress,
            live,
            in_flight: Mutex::new(HashSet::new()),
            config,
        });
        let app = router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let driver_shared = shared.clone();
        let task = tokio::spawn(async move {
            let driver = tokio::spawn(drive(driver_shared));
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            driver.abort();
        });
        Ok(Handle {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

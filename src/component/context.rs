//! The `BuildContext` handed to factories: the component's identity, the self-metrics
//! registry, the health registry, the listener registry (sockets kept across reloads) and the
//! shutdown token its task must honour.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::component::status::StatusRegistry;
use crate::component::Kind;
use crate::config::id::ComponentId;
use crate::pipeline::listeners::ListenerRegistry;
use crate::telemetry::metrics::MetricsRegistry;

#[derive(Clone)]
pub struct BuildContext {
    pub id: ComponentId,
    pub kind: Kind,
    /// The self-metrics registry (counting at the edges uses it; components rarely need it).
    pub metrics: Arc<MetricsRegistry>,
    /// Health of the collector, read by `health_check`.
    pub status: Arc<StatusRegistry>,
    /// Cancelled when this component must stop (ordered shutdown or reload).
    pub shutdown: CancellationToken,
    /// Listening sockets: bind through it so a rebuild on reload takes the socket over.
    pub listeners: Arc<ListenerRegistry>,
}

impl BuildContext {
    pub fn new(
        id: ComponentId,
        kind: Kind,
        metrics: Arc<MetricsRegistry>,
        status: Arc<StatusRegistry>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            id,
            kind,
            metrics,
            status,
            shutdown,
            listeners: ListenerRegistry::new(),
        }
    }

    /// Uses the process's listener registry instead of a private one.
    pub fn with_listeners(mut self, listeners: Arc<ListenerRegistry>) -> Self {
        self.listeners = listeners;
        self
    }

    /// A context with fresh registries, for unit tests.
    pub fn for_test(kind: Kind, id: &str) -> Self {
        Self::new(
            ComponentId::parse(id).unwrap_or_else(|_| ComponentId::new("test", None)),
            kind,
            MetricsRegistry::new(),
            Arc::new(StatusRegistry::default()),
            CancellationToken::new(),
        )
    }
}
